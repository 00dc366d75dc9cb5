//! What may be printed of a URL or a connection string: never the user name or password.

/// `text` with the user info of every `scheme://user:pw@host` in it replaced by `***`.
pub fn urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// A libpq connection string or postgres:// URL with its password (and URL user info) hidden;
/// every error line goes through it, whatever it quotes.
pub fn conninfo(text: &str) -> String {
    let text = urls(text);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find("password") {
        let (head, tail) = rest.split_at(i + "password".len());
        out.push_str(head);
        let after = tail.trim_start();
        let Some(value) = after.strip_prefix('=') else {
            rest = tail;
            continue;
        };
        let value = value.trim_start();
        out.push_str("=***");
        rest = if let Some(quoted) = value.strip_prefix('\'') {
            let mut end = quoted.len();
            let mut escaped = false;
            for (j, c) in quoted.char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '\'' if !escaped => {
                        end = j + 1;
                        break;
                    }
                    _ => escaped = false,
                }
            }
            &quoted[end..]
        } else {
            let end = value.find(char::is_whitespace).unwrap_or(value.len());
            &value[end..]
        };
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_user_info_and_passwords() {
        assert_eq!(
            urls("http://u:S3cret@h:8/feed/index.xml: 500"),
            "http://***@h:8/feed/index.xml: 500"
        );
        assert_eq!(urls("http://h/a@b"), "http://h/a@b");
        assert_eq!(
            urls("a https://x@y and postgres://p:q@r/db"),
            "a https://***@y and postgres://***@r/db"
        );
        assert_eq!(
            conninfo("host=h password='a b\\'c' user=u"),
            "host=h password=*** user=u"
        );
        assert_eq!(conninfo("password = pw dbname=d"), "password=*** dbname=d");
    }
}
