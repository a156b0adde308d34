//! The gateway's public address, for the absolute URLs FHIR answers carry (`fullUrl`, paging
//! links, `Location`, `Content-Location`): `server.public_base_url`, or the address the
//! gateway is bound to; behind a reverse proxy, what its `Forwarded` (RFC 7239) or
//! `X-Forwarded-Proto`/`-Host`/`-Port`/`-Prefix` headers say — honoured only when the
//! connection comes from one of `server.trusted_proxies`, so that no client can make the
//! gateway hand out links to another host.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use super::tls::Peer;

/// The base URL of one request's answers (no trailing slash): `https://gw.example.se/brygga`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base(Arc<str>);

/// The base URL `layer` found for the request.
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Base {
    type Rejection = super::ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Base, super::ApiError> {
        parts
            .extensions
            .get::<Base>()
            .cloned()
            .ok_or_else(|| super::ApiError::Internal("no base URL for the request".into()))
    }
}

impl Base {
    pub fn new(base: &str) -> Base {
        Base(base.trim_end_matches('/').into())
    }

    /// The absolute URL of a path of the gateway (`/fhir/Task/1`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// The absolute URL of a FHIR resource or search (`Task/1`, `Task?status=requested`).
    pub fn fhir(&self, relative: &str) -> String {
        format!("{}/fhir/{relative}", self.0)
    }
}

/// How the base URL of a request is found.
#[derive(Debug, Clone)]
pub struct PublicUrls {
    scheme: String,
    /// Host and port, as in a URL's authority.
    authority: String,
    /// The path the gateway is served under (empty, or `/brygga`).
    prefix: String,
    trusted: Vec<IpNet>,
    /// The base without any proxy's say, made once: most requests are answered under it.
    default: Base,
}

/// A parsed `server.trusted_proxies` entry: an address or a network (`10.0.0.0/8`).
pub fn parse_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not an IP address or network (e.g. 10.0.0.0/8)"))
}

/// Splits an absolute `http(s)` URL without query or fragment into scheme, authority and path.
pub fn parse_base(text: &str) -> Result<(String, String, String), String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?}: the scheme must be http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "{text:?}: a base URL has no user, query or fragment"
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("{text:?} names no host"))?;
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    Ok((
        url.scheme().to_owned(),
        authority,
        url.path().trim_end_matches('/').to_owned(),
    ))
}

impl PublicUrls {
    /// From the settings: `configured` (`server.public_base_url`) or else the address the
    /// gateway is bound to, and the trusted proxies (already checked when the settings were
    /// loaded; an entry that does not parse is left out).
    pub fn new(
        configured: Option<&str>,
        bound: SocketAddr,
        tls: bool,
        trusted: &[String],
    ) -> Result<PublicUrls, String> {
        let (scheme, authority, prefix) = match configured {
            Some(url) => parse_base(url).map_err(|e| format!("server.public_base_url: {e}"))?,
            None => (
                if tls { "https" } else { "http" }.to_owned(),
                bound.to_string(),
                String::new(),
            ),
        };
        Ok(PublicUrls {
            default: Base::new(&format!("{scheme}://{authority}{prefix}")),
            scheme,
            authority,
            prefix,
            trusted: trusted.iter().filter_map(|t| parse_proxy(t).ok()).collect(),
        })
    }

    /// The base URL without any proxy's say.
    pub fn default_base(&self) -> Base {
        self.default.clone()
    }

    /// The base URL of a request that came from `peer` with `headers`.
    pub fn for_request(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Base {
        let trusted = peer.is_some_and(|ip| {
            let ip = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
                v4 => v4,
            };
            self.trusted.iter().any(|net| net.contains(&ip))
        });
        if !trusted {
            return self.default_base();
        }
        let forwarded = Forwarded::from_headers(headers);
        if forwarded.proto.is_none() && forwarded.host.is_none() && forwarded.prefix.is_none() {
            return self.default_base();
        }
        let scheme = forwarded.proto.unwrap_or_else(|| self.scheme.clone());
        let mut authority = forwarded.host.unwrap_or_else(|| self.authority.clone());
        if let Some(port) = forwarded.port
            && !has_port(&authority)
            && !matches!((scheme.as_str(), port), ("http", 80) | ("https", 443))
        {
            authority = format!("{authority}:{port}");
        }
        let prefix = forwarded.prefix.unwrap_or_else(|| self.prefix.clone());
        Base::new(&format!("{scheme}://{authority}{prefix}"))
    }
}

fn has_port(authority: &str) -> bool {
    match authority.rsplit_once(']') {
        Some((_, rest)) => rest.starts_with(':'),
        None => authority.contains(':'),
    }
}

/// What a proxy says of the client's request, each part checked (a part that is not a valid
/// scheme, host, port or path is ignored).
#[derive(Debug, Default, PartialEq, Eq)]
struct Forwarded {
    proto: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    prefix: Option<String>,
}

fn first_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let value = headers.get(name)?.to_str().ok()?;
    value
        .split(',')
        .next()
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn valid_proto(proto: &str) -> Option<String> {
    let proto = proto.to_ascii_lowercase();
    matches!(proto.as_str(), "http" | "https").then_some(proto)
}

fn valid_host(host: &str) -> Option<String> {
    let ok = !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    ok.then(|| host.to_ascii_lowercase())
}

fn valid_prefix(prefix: &str) -> Option<String> {
    let prefix = prefix.trim_end_matches('/');
    let ok = prefix.is_empty()
        || (prefix.starts_with('/')
            && prefix.len() <= 255
            && !prefix.contains("//")
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~')));
    ok.then(|| prefix.to_owned())
}

impl Forwarded {
    fn from_headers(headers: &HeaderMap) -> Forwarded {
        let mut found = Forwarded::default();
        // RFC 7239: the first element is what the proxy nearest the client saw.
        if let Some(element) = first_value(headers, "forwarded") {
            for pair in element.split(';') {
                let Some((key, value)) = pair.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "proto" => found.proto = valid_proto(value),
                    "host" => found.host = valid_host(value),
                    _ => {}
                }
            }
        }
        if found.proto.is_none() {
            found.proto = first_value(headers, "x-forwarded-proto").and_then(valid_proto);
        }
        if found.host.is_none() {
            found.host = first_value(headers, "x-forwarded-host").and_then(valid_host);
        }
        found.port = first_value(headers, "x-forwarded-port").and_then(|p| p.parse().ok());
        found.prefix = first_value(headers, "x-forwarded-prefix").and_then(valid_prefix);
        found
    }
}

/// Finds the request's base URL (for handlers, as an extension) and makes the answer's
/// `Location` and `Content-Location` absolute with it.
pub async fn layer(
    State(urls): State<Arc<PublicUrls>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|c| c.0.address.ip());
    let base = urls.for_request(peer, request.headers());
    request.extensions_mut().insert(base.clone());
    let mut response = next.run(request).await;
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        let Some(relative) = response
            .headers()
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.starts_with('/'))
        else {
            continue;
        };
        if let Ok(absolute) = HeaderValue::from_str(&base.url(relative)) {
            response.headers_mut().insert(name, absolute);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(configured: Option<&str>, trusted: &[&str]) -> PublicUrls {
        let trusted: Vec<String> = trusted.iter().map(|t| t.to_string()).collect();
        PublicUrls::new(
            configured,
            "127.0.0.1:8080".parse().unwrap(),
            false,
            &trusted,
        )
        .unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_base_is_configured_or_the_bound_address() {
        let none = HeaderMap::new();
        assert_eq!(
            urls(None, &[]).for_request(None, &none).fhir("Task/1"),
            "http://127.0.0.1:8080/fhir/Task/1"
        );
        let configured = urls(Some("https://gw.example.se/brygga/"), &[]);
        assert_eq!(
            configured
                .for_request(None, &none)
                .fhir("Task?status=requested"),
            "https://gw.example.se/brygga/fhir/Task?status=requested"
        );
        for wrong in [
            "ftp://x",
            "https://gw.example.se/?a=1",
            "gw.example.se",
            "https://u@gw.example.se",
        ] {
            assert!(
                PublicUrls::new(Some(wrong), "127.0.0.1:1".parse().unwrap(), false, &[]).is_err(),
                "{wrong}"
            );
        }
    }

    #[test]
    fn proxy_headers_count_only_from_a_trusted_proxy() {
        let sent = headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "gw.example.se, inner.local"),
            ("x-forwarded-prefix", "/brygga"),
        ]);
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let behind = urls(None, &["10.0.0.0/8"]);
        assert_eq!(
            behind.for_request(Some(proxy), &sent).fhir("Task"),
            "https://gw.example.se/brygga/fhir/Task"
        );
        // The same headers from anyone else, or with no trusted proxy configured: ignored.
        let stranger: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(
            behind.for_request(Some(stranger), &sent),
            behind.default_base()
        );
        assert_eq!(
            urls(None, &[]).for_request(Some(proxy), &sent),
            urls(None, &[]).default_base()
        );
    }

    #[test]
    fn forwarded_wins_and_bad_values_are_ignored() {
        let behind = urls(Some("http://inner:8080"), &["127.0.0.1", "::1"]);
        let local: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let sent = headers(&[
            (
                "forwarded",
                "for=192.0.2.60;proto=https;host=\"gw.example.se:8443\", for=10.0.0.1",
            ),
            ("x-forwarded-host", "other.example"),
        ]);
        assert_eq!(
            behind.for_request(Some(local), &sent).url("/fhir"),
            "https://gw.example.se:8443/fhir"
        );
        let port = headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "gw.example.se"),
            ("x-forwarded-port", "8443"),
        ]);
        assert_eq!(
            behind.for_request(Some(local), &port).url(""),
            "https://gw.example.se:8443"
        );
        let evil = headers(&[
            ("x-forwarded-proto", "javascript"),
            ("x-forwarded-host", "evil.example/path?x"),
            ("x-forwarded-prefix", "//evil.example"),
        ]);
        assert_eq!(
            behind.for_request(Some(local), &evil),
            behind.default_base()
        );
    }

    #[test]
    fn proxies_are_addresses_or_networks() {
        assert!(parse_proxy("10.0.0.0/8").is_ok());
        assert!(parse_proxy("::1").is_ok());
        assert!(parse_proxy("2001:db8::/32").is_ok());
        assert!(parse_proxy("proxy.local").is_err());
    }
}
