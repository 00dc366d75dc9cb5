//! Signed feeds (minisign): `keygen`, the dumper's detached signature over the exact bytes of
//! `index.xml`, and the replica's check of it against the keys it trusts.
//!
//! `index.xml.minisig` holds one standard minisign signature block (four lines) per signing
//! key, in the order of `--sign-key`: the standard `minisign -V -p first.pub -m index.xml`
//! reads the first block; a replica accepts any block made by a key it trusts. Keys are
//! minisign's unencrypted ones (`minisign -G -W`, or `keygen`): a dumper signs unattended, so
//! the secret key is protected by its file's permissions (0600), not by a password.

use std::fs;
use std::io::{Cursor, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use minisign::{PublicKey, PublicKeyBox, SecretKey, SecretKeyBox, SignatureBox};

use crate::error::{Context, Error, Result};

/// The signature file beside the index.
pub const SIGNATURE_FILE: &str = "index.xml.minisig";

/// A secret key the dumper signs with.
pub struct SigningKey {
    secret: SecretKey,
    public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", key_id(self.public.keynum()))
    }
}

/// A public key a replica trusts.
#[derive(Clone)]
pub struct TrustedKey {
    public: PublicKey,
    file: String,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TrustedKey({} from {})",
            key_id(self.public.keynum()),
            self.file
        )
    }
}

/// minisign's key id, as its tools print it.
fn key_id(keynum: &[u8]) -> String {
    keynum.iter().rev().map(|b| format!("{b:02X}")).collect()
}

fn key_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Key {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Writes a new key pair: the secret key private (0600), refusing to overwrite either file.
pub fn keygen(secret_path: &Path, public_path: &Path) -> Result<String> {
    for path in [secret_path, public_path] {
        if fs::symlink_metadata(path).is_ok() {
            return Err(key_error(
                path,
                "already exists; refusing to overwrite a key",
            ));
        }
    }
    let pair =
        minisign::KeyPair::generate_unencrypted_keypair().map_err(|e| key_error(secret_path, e))?;
    let id = key_id(pair.pk.keynum());
    let secret_box = pair
        .sk
        .to_box(Some(&format!("replgen secret key {id}")))
        .map_err(|e| key_error(secret_path, e))?;
    let public_box = pair.pk.to_box().map_err(|e| key_error(public_path, e))?;
    write_new(secret_path, 0o600, secret_box.to_string().as_bytes())?;
    if let Err(e) = write_new(public_path, 0o644, public_box.to_string().as_bytes()) {
        let _ = fs::remove_file(secret_path);
        return Err(e);
    }
    Ok(id)
}

/// Creates `path` (never an existing file or link) with `mode`, durably.
fn write_new(path: &Path, mode: u32, bytes: &[u8]) -> Result<()> {
    let ctx = || format!("cannot write {}", path.display());
    let mut file = fs::File::options()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .context(ctx)?;
    file.write_all(bytes).context(ctx)?;
    file.sync_all().context(ctx)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::feed::durable::sync_dir(dir).context(ctx)?;
    }
    Ok(())
}

/// Reads an unencrypted minisign secret key.
pub fn load_secret(path: &Path) -> Result<SigningKey> {
    let text = fs::read_to_string(path).context(|| format!("cannot read {}", path.display()))?;
    let boxed = SecretKeyBox::from_string(&text).map_err(|e| key_error(path, e))?;
    let secret =
        match SecretKey::from_unencrypted_box(boxed) {
            Ok(secret) => secret,
            Err(e) if e.to_string().contains("encrypted") => return Err(key_error(
                path,
                "is password-protected; the dumper signs unattended, so it needs a key made by \
                 `mirror keygen` or `minisign -G -W`",
            )),
            Err(e) => match unchecked_unencrypted(&text) {
                Some(secret) => secret,
                None => {
                    return Err(key_error(
                        path,
                        format!("is not a minisign secret key ({e})"),
                    ))
                }
            },
        };
    let public = PublicKey::from_secret_key(&secret).map_err(|e| key_error(path, e))?;
    // A probe signature, verified with the key's public half: a damaged key fails here, not
    // at the first dump.
    minisign::sign(Some(&public), &secret, Cursor::new(b"probe"), None, None)
        .map_err(|e| key_error(path, format!("is damaged ({e})")))?;
    Ok(SigningKey { secret, public })
}

/// minisign 0.11 (Debian's) writes `-G -W` keys with an all-zero checksum, which the crate
/// calls corrupted: such a key is read as it is, and checked by the probe signature instead.
fn unchecked_unencrypted(text: &str) -> Option<SecretKey> {
    use ct_codecs::{Base64, Decoder};
    let line = text.lines().nth(1)?.trim();
    let bytes = Base64::decode_to_vec(line, None).ok()?;
    // sig_alg, kdf_alg, chk_alg, salt (32), opslimit, memlimit, keynum (8), sk (64), chk (32).
    let unencrypted = bytes.len() == 158 && bytes[2..4] == [0, 0];
    let zero_checksum = bytes.get(126..)?.iter().all(|b| *b == 0);
    (unencrypted && zero_checksum)
        .then(|| SecretKey::from_bytes(&bytes).ok())
        .flatten()
}

/// Reads a minisign public key file (as `keygen` or `minisign -G` writes it).
pub fn load_public(path: &Path) -> Result<TrustedKey> {
    let text = fs::read_to_string(path).context(|| format!("cannot read {}", path.display()))?;
    let public = PublicKeyBox::from_string(&text)
        .and_then(PublicKey::from_box)
        .map_err(|e| key_error(path, format!("is not a minisign public key ({e})")))?;
    Ok(TrustedKey {
        public,
        file: path.display().to_string(),
    })
}

/// The signature file's text for `bytes`: one block per key, in order.
pub fn sign(bytes: &[u8], keys: &[SigningKey]) -> Result<String> {
    let mut out = String::new();
    for key in keys {
        let comment = format!("timestamp:{}\tfile:index.xml", crate::timefmt::now());
        let block = minisign::sign(
            Some(&key.public),
            &key.secret,
            Cursor::new(bytes),
            Some(&comment),
            Some(&format!(
                "signature from replgen key {}",
                key_id(key.public.keynum())
            )),
        )
        .map_err(|e| Error::Key {
            path: key_id(key.public.keynum()),
            reason: format!("cannot sign: {e}"),
        })?;
        out.push_str(&block.to_string());
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// What checking an index against its signature file found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A trusted key signed these very bytes: the key's file.
    Trusted(String),
    /// A trusted key made a block, but not over these bytes (an index and signature from two
    /// different moments, or tampering): worth fetching both once more.
    Mismatch,
    /// No block is by a trusted key (or the file holds no signature at all).
    NoTrustedKey(Vec<String>),
}

/// Checks `bytes` against every block of `signature` made by a trusted key.
pub fn verify(bytes: &[u8], signature: &str, trusted: &[TrustedKey]) -> Verdict {
    let lines: Vec<&str> = signature.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut seen = Vec::new();
    let mut mismatch = false;
    for block in lines.chunks(4) {
        let Ok(sig) = SignatureBox::from_string(&block.join("\n")) else {
            continue;
        };
        seen.push(key_id(sig.keynum()));
        for key in trusted.iter().filter(|k| k.public.keynum() == sig.keynum()) {
            match minisign::verify(&key.public, &sig, Cursor::new(bytes), true, false, false) {
                Ok(()) => return Verdict::Trusted(key.file.clone()),
                Err(_) => mismatch = true,
            }
        }
    }
    if mismatch {
        Verdict::Mismatch
    } else {
        Verdict::NoTrustedKey(seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, name: &str) -> (SigningKey, TrustedKey) {
        let (sk, pk) = (
            dir.join(format!("{name}.key")),
            dir.join(format!("{name}.pub")),
        );
        keygen(&sk, &pk).unwrap();
        (load_secret(&sk).unwrap(), load_public(&pk).unwrap())
    }

    #[test]
    fn any_trusted_block_verifies_and_a_changed_byte_is_a_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let (old_sk, old_pk) = pair(dir.path(), "old");
        let (new_sk, new_pk) = pair(dir.path(), "new");
        let (_, other_pk) = pair(dir.path(), "other");
        let sig = sign(b"<index/>", &[old_sk, new_sk]).unwrap();
        assert!(matches!(
            verify(b"<index/>", &sig, std::slice::from_ref(&new_pk)),
            Verdict::Trusted(_)
        ));
        assert!(matches!(
            verify(b"<index/>", &sig, &[old_pk]),
            Verdict::Trusted(_)
        ));
        assert_eq!(verify(b"<index />", &sig, &[new_pk]), Verdict::Mismatch);
        assert!(
            matches!(verify(b"<index/>", &sig, std::slice::from_ref(&other_pk)), Verdict::NoTrustedKey(ids) if ids.len() == 2)
        );
        assert_eq!(
            verify(b"<index/>", "", &[other_pk]),
            Verdict::NoTrustedKey(vec![])
        );
    }

    #[test]
    fn keygen_refuses_to_overwrite_and_keeps_the_secret_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (sk, pk) = (dir.path().join("k.key"), dir.path().join("k.pub"));
        keygen(&sk, &pk).unwrap();
        let mode = fs::metadata(&sk).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let before = fs::read(&sk).unwrap();
        let err = keygen(&sk, &dir.path().join("other.pub")).unwrap_err();
        assert!(err.to_string().contains("refusing to overwrite"), "{err}");
        assert_eq!(fs::read(&sk).unwrap(), before);
        assert!(!dir.path().join("other.pub").exists());
    }

    #[test]
    fn a_password_protected_key_is_refused_with_the_reason() {
        use ct_codecs::{Base64, Decoder, Encoder};
        let dir = tempfile::tempdir().unwrap();
        let (sk, pk) = (dir.path().join("k.key"), dir.path().join("k.pub"));
        keygen(&sk, &pk).unwrap();
        // The same key marked as scrypt-encrypted, as `minisign -G` without -W writes it.
        let text = fs::read_to_string(&sk).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut bytes = Base64::decode_to_vec(&lines[1], None).unwrap();
        bytes[2..4].copy_from_slice(b"Sc");
        lines[1] = Base64::encode_to_string(&bytes).unwrap();
        let encrypted = dir.path().join("encrypted.key");
        fs::write(&encrypted, lines.join("\n") + "\n").unwrap();
        let err = load_secret(&encrypted).unwrap_err().to_string();
        assert!(
            err.contains("password-protected") && err.contains("-W"),
            "{err}"
        );
        // And a damaged unencrypted key is named as such, never used.
        let mut bytes = Base64::decode_to_vec(text.lines().nth(1).unwrap(), None).unwrap();
        bytes[70] ^= 1;
        let damaged = dir.path().join("damaged.key");
        let line = Base64::encode_to_string(&bytes).unwrap();
        fs::write(&damaged, format!("untrusted comment: x\n{line}\n")).unwrap();
        assert!(load_secret(&damaged).is_err());
    }
}
