//! Tests of sealing and opening values, and of the key file.

use super::*;

#[test]
fn round_trip_with_associated_data() {
    let key = MasterKey::generate();
    let sealed = key.encrypt(b"hunter2", b"keepit_integrations:7").unwrap();
    assert!(sealed.starts_with(&format!("kw1:{}:", key.key_id())));
    assert!(!sealed.contains("hunter2"));
    assert_eq!(
        key.decrypt(&sealed, b"keepit_integrations:7").unwrap(),
        b"hunter2"
    );
    // A fresh nonce every time: the same plaintext never seals to the same text.
    assert_ne!(
        sealed,
        key.encrypt(b"hunter2", b"keepit_integrations:7").unwrap()
    );
}

#[test]
fn wrong_key_is_reported_as_such() {
    let sealed = MasterKey::generate().encrypt(b"secret", b"a").unwrap();
    let other = MasterKey::generate();
    let error = other.decrypt(&sealed, b"a").unwrap_err();
    assert!(matches!(error, SecretError::WrongKey { .. }), "{error:?}");
    assert!(error.to_string().contains("not with the configured key"));
}

#[test]
fn tampered_data_and_moved_values_fail_authentication() {
    let key = MasterKey::generate();
    let sealed = key.encrypt(b"secret", b"keepit_integrations:1").unwrap();
    // Flip one character of the ciphertext.
    let mut tampered = sealed.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert!(matches!(
        key.decrypt(&tampered, b"keepit_integrations:1"),
        Err(SecretError::Tampered)
    ));
    // The same value under another integration id.
    assert!(matches!(
        key.decrypt(&sealed, b"keepit_integrations:2"),
        Err(SecretError::Tampered)
    ));
    assert!(matches!(
        key.decrypt("nonsense", b"x"),
        Err(SecretError::Malformed(_))
    ));
    assert!(matches!(
        key.decrypt("kw9:abc:def", b"x"),
        Err(SecretError::Malformed(_))
    ));
}

#[test]
fn keys_parse_from_base64_and_hex() {
    let key = MasterKey::generate();
    let again = MasterKey::from_encoded(&key.encoded()).unwrap();
    assert_eq!(key.key_id(), again.key_id());
    let hex_key = MasterKey::from_encoded(&"ab".repeat(32)).unwrap();
    assert_eq!(hex_key.key_id(), MasterKey::from_bytes([0xab; 32]).key_id());
    assert!(matches!(
        MasterKey::from_encoded("too short"),
        Err(SecretError::InvalidKey)
    ));
    assert!(!format!("{key:?}").contains(&key.encoded()));
}

/// A fresh directory for one test's key file.
fn key_dir(test: u32) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keepit-store-key-{}-{test}", std::process::id()));
    // A key left by an earlier process with a reused pid must not be found.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn key_file_is_created_once_with_owner_only_permissions() {
    let dir = key_dir(line!());
    let path = dir.join("master.key");
    let _ = std::fs::remove_file(&path);
    let created = MasterKey::load_or_create(&path).unwrap();
    let loaded = MasterKey::load_or_create(&path).unwrap();
    assert_eq!(created.key_id(), loaded.key_id());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_configured_key_wins_over_the_file_and_a_bad_one_is_an_error() {
    let dir = key_dir(line!());
    let file = dir.join("master.key").display().to_string();
    let _ = std::fs::remove_file(&file);
    // An environment holding the key file's name and, when given, a key.
    let env = |key: Option<String>| {
        let file = file.clone();
        move |name: &str| match name {
            "KEEPIT_MASTER_KEY" => key.clone(),
            "KEEPIT_MASTER_KEY_FILE" => Some(file.clone()),
            _ => None,
        }
    };

    // Only the file: created once, then the same key.
    let first = MasterKey::from_env(env(None)).unwrap();
    let again = MasterKey::from_env(env(None)).unwrap();
    assert_eq!(first.key_id(), again.key_id());

    // A configured key is used as given, whatever the file holds.
    let given = MasterKey::generate();
    let used = MasterKey::from_env(env(Some(given.encoded()))).unwrap();
    assert_eq!(used.key_id(), given.key_id());
    assert_ne!(used.key_id(), first.key_id());

    // A configured key that cannot be read is an error, never the file's key.
    assert!(matches!(
        MasterKey::from_env(env(Some("not-a-key".to_owned()))),
        Err(SecretError::InvalidKey)
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
