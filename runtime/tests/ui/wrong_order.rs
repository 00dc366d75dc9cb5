#[derive(replgen_runtime::Replicated)]
#[replicated(table = "artist_credit_name")]
pub struct ArtistCreditName {
    pub position: i16,
    pub artist_credit: i32,
    pub name: String,
}

fn main() {}
