#[derive(replgen_runtime::Replicated)]
#[replicated(schema = "bad_schema.yaml", table = "artist")]
pub struct Artist {
    pub id: i32,
}

fn main() {}
