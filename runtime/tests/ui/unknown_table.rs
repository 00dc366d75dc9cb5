#[derive(replgen_runtime::Replicated)]
#[replicated(table = "musicbrainz.release")]
pub struct Release {
    pub id: i32,
}

fn main() {}
