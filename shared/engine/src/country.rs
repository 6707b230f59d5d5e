//! Countries: the one form a country has before any comparison, its ISO 3166-1 alpha-2 code.
//!
//! Seam for issue 14, item 1: today only a two-letter code is recognised (upper-cased); every
//! other spelling is kept as typed. The full resolution (alpha-3, names, aliases, native names,
//! through a maintained ISO data crate) replaces [`alpha2`].

/// The ISO 3166-1 alpha-2 code a country value stands for, `None` when it resolves to none.
pub fn alpha2(value: &str) -> Option<String> {
    let value = value.trim();
    (value.len() == 2 && value.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| value.to_ascii_uppercase())
}
