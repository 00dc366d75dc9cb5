#[derive(replgen_runtime::Replicated)]
#[replicated(table = "artist_credit_name")]
pub struct ArtistCreditName {
    pub artist_credit: i32,
    pub position: i16,
    pub name: String,
    pub join_phrase: String,
}

fn main() {}
