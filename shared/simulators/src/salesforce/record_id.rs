//! Salesforce record ids: 15-character case-sensitive ids and their 18-character case-safe
//! form (API-NOTES A.6).

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const CHECKSUM_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The key prefix of Contact ids.
pub(crate) const CONTACT_PREFIX: &str = "003";
/// Pod and reserved characters of every simulated id.
const POD: &str = "SM0";

/// The 3-character checksum of a 15-character id.
pub(crate) fn checksum(id15: &str) -> Option<String> {
    let bytes = id15.as_bytes();
    if bytes.len() != 15 || !bytes.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let suffix = bytes
        .chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, byte)| byte.is_ascii_uppercase())
                .fold(0usize, |acc, (index, _)| acc | (1 << index));
            char::from(CHECKSUM_ALPHABET[bits])
        })
        .collect();
    Some(suffix)
}

/// The 18-character form of a 15- or 18-character id, or `None` if it is malformed
/// (wrong length, bad characters or a checksum that does not match).
pub(crate) fn to_18(id: &str) -> Option<String> {
    match id.len() {
        15 => checksum(id).map(|suffix| format!("{id}{suffix}")),
        18 => {
            let (id15, suffix) = id.split_at(15);
            let expected = checksum(id15)?;
            expected
                .eq_ignore_ascii_case(suffix)
                .then(|| format!("{id15}{expected}"))
        }
        _ => None,
    }
}

/// The 18-character Contact id for the `sequence`-th record.
pub(crate) fn contact_id(sequence: u64) -> String {
    new_id(CONTACT_PREFIX, sequence)
}

/// An 18-character id with a 3-character key `prefix` for the `sequence`-th entity.
pub(crate) fn new_id(prefix: &str, sequence: u64) -> String {
    let mut digits = [b'0'; 9];
    let mut rest = sequence;
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(rest % 62) as usize];
        rest /= 62;
    }
    let counter = String::from_utf8_lossy(&digits);
    let id15 = format!("{prefix}{POD}{counter}");
    let suffix = checksum(&id15).unwrap_or_else(|| "AAA".to_string());
    format!("{id15}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_the_published_test_vectors() {
        // GIVEN the test vectors of API-NOTES A.6
        // WHEN computing the case-safe ids
        // THEN they match
        assert_eq!(
            to_18("a0BA0000000L2ZC").as_deref(),
            Some("a0BA0000000L2ZCMA0")
        );
        assert_eq!(
            to_18("AAaAAbbBBBCcCCC").as_deref(),
            Some("AAaAAbbBBBCcCCC123")
        );
    }

    #[test]
    fn eighteen_char_ids_are_validated() {
        // GIVEN a valid 18-char id and one with a wrong checksum
        // WHEN normalising
        // THEN only the valid one passes
        assert!(to_18("a0BA0000000L2ZCMA0").is_some());
        assert!(to_18("a0BA0000000L2ZCAAA").is_none());
        assert!(to_18("short").is_none());
    }

    #[test]
    fn generated_ids_are_ordered_and_valid() {
        // GIVEN consecutive sequence numbers
        let ids: Vec<String> = (1..200).map(contact_id).collect();
        // WHEN inspecting the generated ids
        // THEN they are 18 chars, start with 003, validate, and sort in creation order
        assert!(ids.iter().all(|id| id.len() == 18 && id.starts_with("003")));
        assert!(
            ids.iter()
                .all(|id| to_18(id).as_deref() == Some(id.as_str()))
        );
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    }
}
