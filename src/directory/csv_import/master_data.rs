//! The value rules of the import formats: master data (ISO 3166-1 alpha-2 countries, ISO 639-1
//! languages, locales, salutations), the user types, the compact timestamp
//! `yyyyMMddHHmmss'Z'` and the email shape.
//!
//! Invariant: every check is pure; a check that accepts a value returns its canonical form
//! (upper-case country, `ll-CC` locale, the listed spelling of a salutation).

/// ISO 3166-1 alpha-2 country codes.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI \
BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ \
GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN \
KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS \
MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT \
PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF \
TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM \
ZW";

/// ISO 639-1 language codes.
const LANGUAGES: &str = "aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch \
co cr cs cu cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi \
ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky \
la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om \
or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te \
tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu";

/// The salutations accepted for `name.honorificPrefix`.
pub const HONORIFIC_PREFIXES: &[&str] = &["Mr.", "Mrs.", "Ms.", "Miss", "Mx.", "Dr.", "Prof."];

/// The user types of the application-level import, in lower case.
pub const USER_TYPES: &[&str] = &[
    "public",
    "employee",
    "customer",
    "partner",
    "external",
    "onboardee",
    "alumni",
];

/// The canonical (upper-case) country code, when `value` is an ISO 3166-1 alpha-2 code.
pub fn country(value: &str) -> Option<String> {
    let upper = value.to_ascii_uppercase();
    (upper.len() == 2 && COUNTRIES.split_ascii_whitespace().any(|c| c == upper)).then_some(upper)
}

fn language(value: &str) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    (lower.len() == 2 && LANGUAGES.split_ascii_whitespace().any(|c| c == lower)).then_some(lower)
}

/// The canonical locale (`de` or `de-DE`) of `de`, `de-DE`, `de_DE` or `deDE`.
pub fn locale(value: &str) -> Option<String> {
    if !value.is_ascii() {
        return None;
    }
    let (lang, region) = match value.len() {
        2 => (value, None),
        4 => (&value[..2], Some(&value[2..])),
        5 if matches!(value.as_bytes()[2], b'-' | b'_') => (&value[..2], Some(&value[3..])),
        _ => return None,
    };
    let lang = language(lang)?;
    match region {
        None => Some(lang),
        Some(region) => Some(format!("{lang}-{}", country(region)?)),
    }
}

/// The listed spelling of a salutation (case and the final dot do not matter).
pub fn honorific_prefix(value: &str) -> Option<&'static str> {
    let bare = value.trim_end_matches('.');
    HONORIFIC_PREFIXES
        .iter()
        .find(|p| p.trim_end_matches('.').eq_ignore_ascii_case(bare))
        .copied()
}

/// The lower-case user type, when listed.
pub fn user_type(value: &str) -> Option<&'static str> {
    USER_TYPES.iter().find(|t| **t == value).copied()
}

/// `yyyyMMddHHmmss'Z'` (UTC) as an RFC 3339 dateTime; `None` when malformed or not a real
/// instant.
pub fn compact_timestamp(value: &str) -> Option<String> {
    let b = value.as_bytes();
    if b.len() != 15 || b[14] != b'Z' || !b[..14].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |from: usize, to: usize| value[from..to].parse::<i16>().ok();
    let date = jiff::civil::Date::new(
        n(0, 4)?,
        i8::try_from(n(4, 6)?).ok()?,
        i8::try_from(n(6, 8)?).ok()?,
    )
    .ok()?;
    let time = jiff::civil::Time::new(
        i8::try_from(n(8, 10)?).ok()?,
        i8::try_from(n(10, 12)?).ok()?,
        i8::try_from(n(12, 14)?).ok()?,
        0,
    )
    .ok()?;
    Some(format!("{date}T{time}Z"))
}

/// Whether `value` looks like an email address: `local@domain.tld`, no whitespace.
pub fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_iso_3166_alpha_2() {
        assert_eq!(COUNTRIES.split_ascii_whitespace().count(), 249);
        assert_eq!(country("de").as_deref(), Some("DE"));
        assert_eq!(country("XX"), None);
        assert_eq!(country("DEU"), None);
    }

    #[test]
    fn locales_take_language_and_optional_region() {
        assert_eq!(locale("en").as_deref(), Some("en"));
        assert_eq!(locale("de_DE").as_deref(), Some("de-DE"));
        assert_eq!(locale("en-us").as_deref(), Some("en-US"));
        assert_eq!(locale("frFR").as_deref(), Some("fr-FR"));
        for bad in ["xx", "en-XX", "english", "e", "de_DEU", "dé"] {
            assert_eq!(locale(bad), None, "{bad}");
        }
    }

    #[test]
    fn salutations_and_user_types() {
        assert_eq!(honorific_prefix("mr"), Some("Mr."));
        assert_eq!(honorific_prefix("Prof."), Some("Prof."));
        assert_eq!(honorific_prefix("Lord"), None);
        assert_eq!(user_type("onboardee"), Some("onboardee"));
        assert_eq!(user_type("Employee"), None);
        assert_eq!(user_type("robot"), None);
    }

    #[test]
    fn compact_timestamps_become_rfc_3339() {
        assert_eq!(
            compact_timestamp("20240131235959Z").as_deref(),
            Some("2024-01-31T23:59:59Z")
        );
        for bad in [
            "20240231000000Z",
            "2024013123595Z",
            "20240131235959",
            "2024-01-31T00:00:00Z",
            "20241301000000Z",
        ] {
            assert_eq!(compact_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn email_shape() {
        assert!(is_email("a.b@example.com"));
        for bad in ["a", "a@b", "@b.c", "a@@b.c", "a b@c.d", "a@.c", "a@c."] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
