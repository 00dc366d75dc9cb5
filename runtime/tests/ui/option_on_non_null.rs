use replgen_runtime::types::{Array, Uuid};

#[derive(replgen_runtime::Replicated)]
#[replicated(table = "musicbrainz.artist")]
pub struct Artist {
    pub id: i32,
    pub gid: Option<Uuid>,
    pub name: String,
    pub comment: Option<String>,
    pub edits: i64,
    #[replicated(column = "Full Name")]
    pub full_name: Option<String>,
    pub r#type: Array<i32>,
}

fn main() {}
