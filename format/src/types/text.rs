//! `text`, `varchar(n)`, `char(n)` as `String`; every other type as [`PgText`].

use crate::codec::{escape_into, DecodeError, TextForm};

impl TextForm for String {
    fn write_text(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }

    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        Ok(text.to_owned())
    }

    fn parse_text_owned(text: String) -> Result<Self, DecodeError> {
        Ok(text)
    }

    #[inline]
    fn encode_field(&self, out: &mut Vec<u8>) {
        escape_into(self.as_bytes(), out);
    }
}

super::text_newtype!(
    /// The text form of any type without a Rust type of its own (enums, domains, `point`,
    /// `cube`, ...), unchecked; PostgreSQL casts it back.
    PgText,
    "text",
    |_| Ok(())
);

impl TextForm for uuid::Uuid {
    const MAY_NEED_ESCAPE: bool = false;

    fn write_text(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        out.extend_from_slice(self.hyphenated().encode_lower(&mut buf).as_bytes());
    }

    /// Hyphenated, plain, braced or `urn:uuid:` forms, any case.
    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        uuid::Uuid::parse_str(super::trim_pg_space(text))
            .map_err(|_| DecodeError::new(format!("invalid uuid {}", crate::codec::shown(text))))
    }
}
