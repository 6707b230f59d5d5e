//! Genesys Cloud regions and hosts (API-NOTES B.4).

/// Region → API host, from the SDK's region table.
const REGIONS: &[(&str, &str)] = &[
    ("us_east_1", "api.mypurecloud.com"),
    ("eu_west_1", "api.mypurecloud.ie"),
    ("ap_southeast_2", "api.mypurecloud.com.au"),
    ("ap_northeast_1", "api.mypurecloud.jp"),
    ("eu_central_1", "api.mypurecloud.de"),
    ("us_west_2", "api.usw2.pure.cloud"),
    ("ca_central_1", "api.cac1.pure.cloud"),
    ("ap_northeast_2", "api.apne2.pure.cloud"),
    ("eu_west_2", "api.euw2.pure.cloud"),
    ("ap_south_1", "api.aps1.pure.cloud"),
    ("us_east_2", "api.use2.us-gov-pure.cloud"),
    ("sa_east_1", "api.sae1.pure.cloud"),
    ("me_central_1", "api.mec1.pure.cloud"),
    ("ap_northeast_3", "api.apne3.pure.cloud"),
    ("eu_central_2", "api.euc2.pure.cloud"),
    ("mx_central_1", "api.mxc1.pure.cloud"),
    ("ap_southeast_1", "api.apse1.pure.cloud"),
];

/// The API base URL (`https://api.…`) for a region name (`us_east_1`, `eu-west-1`) or a bare
/// region domain (`mypurecloud.ie`, `api.mypurecloud.ie`). `None` when it is neither.
pub fn api_base_for_region(region: &str) -> Option<String> {
    let wanted = region.trim().to_ascii_lowercase().replace('-', "_");
    if let Some((_, host)) = REGIONS.iter().find(|(name, _)| *name == wanted) {
        return Some(format!("https://{host}"));
    }
    let host = region.trim().to_ascii_lowercase();
    let host = host
        .strip_prefix("https://")
        .unwrap_or(&host)
        .trim_end_matches('/');
    let valid = host.contains('.')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !host.starts_with('.')
        && !host.ends_with('.');
    if !valid {
        return None;
    }
    if host.starts_with("api.") {
        Some(format!("https://{host}"))
    } else if let Some(rest) = host.strip_prefix("login.") {
        Some(format!("https://api.{rest}"))
    } else {
        Some(format!("https://api.{host}"))
    }
}

/// The login base for an API base: the host's `api.` prefix becomes `login.`. A base without
/// that prefix (a local simulator) serves both.
pub fn login_base_for(api_base: &str) -> String {
    let base = api_base.trim_end_matches('/');
    match url::Url::parse(base) {
        Ok(mut u) => match u
            .host_str()
            .and_then(|h| h.strip_prefix("api."))
            .map(str::to_owned)
        {
            Some(rest) => {
                if u.set_host(Some(&format!("login.{rest}"))).is_err() {
                    return base.to_owned();
                }
                u.as_str().trim_end_matches('/').to_owned()
            }
            None => base.to_owned(),
        },
        Err(_) => base.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_hosts_map_to_api_bases() {
        // GIVEN region names in both spellings and bare hosts
        // WHEN mapped
        // THEN they give the SDK's API hosts
        assert_eq!(
            api_base_for_region("us_east_1").as_deref(),
            Some("https://api.mypurecloud.com")
        );
        assert_eq!(
            api_base_for_region("eu-west-1").as_deref(),
            Some("https://api.mypurecloud.ie")
        );
        assert_eq!(
            api_base_for_region("ap_southeast_1").as_deref(),
            Some("https://api.apse1.pure.cloud")
        );
        assert_eq!(
            api_base_for_region("mypurecloud.ie").as_deref(),
            Some("https://api.mypurecloud.ie")
        );
        assert_eq!(
            api_base_for_region("api.mypurecloud.de").as_deref(),
            Some("https://api.mypurecloud.de")
        );
        assert_eq!(
            api_base_for_region("login.euw2.pure.cloud").as_deref(),
            Some("https://api.euw2.pure.cloud")
        );
        // AND garbage is refused
        for bad in ["", "mars_north_1", "evil.com/path?x", "a b.com"] {
            assert_eq!(api_base_for_region(bad), None, "{bad}");
        }
    }

    #[test]
    fn login_base_swaps_the_api_prefix() {
        // GIVEN API bases of a region and of a local simulator
        // WHEN the login base is derived
        // THEN api. becomes login., and a local base is kept
        assert_eq!(
            login_base_for("https://api.mypurecloud.de/"),
            "https://login.mypurecloud.de"
        );
        assert_eq!(
            login_base_for("https://api.usw2.pure.cloud"),
            "https://login.usw2.pure.cloud"
        );
        assert_eq!(
            login_base_for("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080"
        );
    }
}
