#[derive(replgen_runtime::Replicated)]
#[replicated(table = "artist_credit_name", id = 1)]
pub struct ArtistCreditName {
    pub artist_credit: i32,
    pub position: i16,
    pub name: String,
}

fn main() {}
