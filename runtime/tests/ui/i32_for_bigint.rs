use replgen_runtime::types::{Array, Uuid};

#[derive(replgen_runtime::Replicated)]
#[replicated(table = "musicbrainz.artist")]
pub struct Artist {
    pub id: i32,
    pub gid: Uuid,
    pub name: String,
    pub comment: Option<String>,
    pub edits: i32,
    #[replicated(column = "Full Name")]
    pub full_name: Option<String>,
    pub r#type: Array<i16>,
}

fn main() {}
