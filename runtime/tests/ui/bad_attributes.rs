#[derive(replgen_runtime::Replicated)]
#[replicated(table = "artist_credit_name", primary = "x")]
pub struct ArtistCreditName {
    #[replicated(rename = "artist_credit")]
    pub credit: i32,
    pub position: i16,
    pub name: String,
}

#[derive(replgen_runtime::Replicated)]
pub struct NoTable {
    pub id: i32,
}

fn main() {
    // The stub impl keeps uses of the trait from adding errors of their own.
    let _ = <NoTable as replgen_runtime::Replicated>::TABLE;
}
