#[derive(replgen_runtime::Replicated)]
#[replicated(table = "sale")]
pub struct Sale {
    pub id: i32,
    pub price: f64,
    pub sold: Option<String>,
    pub meta: std::net::IpAddr,
    pub addr: std::net::IpAddr,
    pub prices: Option<Vec<f64>>,
}

fn main() {}
