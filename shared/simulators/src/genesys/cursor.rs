//! Opaque cursors of Genesys cursor listings (`CursorContactListing`,
//! `CursorExternalSourceListing`), and the `limit` parameter they share.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `limit` must be between 10 and 200; the default is 100.
pub(crate) fn page_limit(raw: Option<String>) -> Result<usize, String> {
    let Some(raw) = raw else {
        return Ok(100);
    };
    match raw.trim().parse::<usize>() {
        Ok(limit) if (10..=200).contains(&limit) => Ok(limit),
        _ => Err(format!(
            "Value [{raw}] is not valid for field type [limit]. Allowable values are: 10-200"
        )),
    }
}

/// Encode a `(sort key, id)` position.
pub(crate) fn encode(key: &(String, String)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", key.0, key.1))
}

/// Decode a cursor made by [`encode`].
pub(crate) fn decode(cursor: &str) -> Option<(String, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (sort_key, id) = text.split_once('|')?;
    Some((sort_key.to_string(), id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_limits_are_checked() {
        // GIVEN a position and some limits
        let key = ("2024-01-01T00:00:00.000Z".to_string(), "abc".to_string());
        // WHEN encoding/decoding and checking limits
        // THEN the position survives and only 10..=200 is accepted
        assert_eq!(decode(&encode(&key)), Some(key));
        assert_eq!(decode("%%%"), None);
        assert_eq!(page_limit(None), Ok(100));
        assert!(page_limit(Some("9".into())).is_err());
        assert!(page_limit(Some("201".into())).is_err());
        assert_eq!(page_limit(Some("200".into())), Ok(200));
    }
}
