//! Registered clients: who they are, which organisation they act for, which scopes they may
//! be granted, and the public keys their assertions are signed with (a JWKS, inline or in a
//! file). Read from the clients file named by `auth.clients_file`.

use std::path::Path;

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use serde::Deserialize;

use super::scopes::Scopes;
use crate::config::Directory;
use crate::domain::party::Organisation;

/// A client as written in the clients file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    pub client_id: String,
    /// For people: the system and who runs it.
    pub name: String,
    /// The organisation it acts for: a region's HSA-id or a municipality's kommunkod.
    pub organisation: String,
    /// The scopes it may be granted, e.g. `system/Task.cru system/Consent.cr`.
    pub scopes: Vec<String>,
    /// May read the audit records of every organisation (the gateway's auditors).
    #[serde(default)]
    pub auditor: bool,
    /// A shared system's integration (Cosmic Link, used by both principals' staff): the steps
    /// it posts may be sent by any organisation of the directory, into cases its own
    /// organisation takes part in.
    #[serde(default)]
    pub relay: bool,
    /// The county's follow-up: sees the statistics of every organisation (small figures
    /// suppressed, `statistics.suppress_below`); any other client sees its own
    /// organisation's.
    #[serde(default)]
    pub county_statistics: bool,
    /// May lift a person's protected identity (`POST /protection/lift`), in a case of theirs
    /// that its organisation takes part in; each lift is audited.
    #[serde(default)]
    pub may_lift_protection: bool,
    /// The public keys as a JWKS document (JSON), inline…
    #[serde(default)]
    pub jwks: Option<String>,
    /// …or in a file, relative to the clients file.
    #[serde(default)]
    pub jwks_file: Option<std::path::PathBuf>,
    /// SHA-256 fingerprints of the client certificates it presents over mutual TLS (hex,
    /// colons allowed). With any, the client must present one of them, and its tokens are
    /// bound to the certificate it presented.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// A consumer of the national platform's contracts (RIV-TA GetCarePlans 2): the consuming
    /// system's HSA-id, as the subject of its client certificate names it. Such a client is
    /// known by its certificate alone (issued under `riv.trust_anchors_file`) and needs no
    /// JWKS.
    #[serde(default)]
    pub hsa_id: Option<String>,
    /// The national service platform itself (with `hsa_id`, its own): it calls on behalf of
    /// the consuming systems it names in the RIV-TA header
    /// `x-rivta-original-serviceconsumer-hsaid`, each of which must be registered too; what is
    /// read is what that consumer may read.
    #[serde(default)]
    pub platform: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientsFile {
    #[serde(default, rename = "client")]
    clients: Vec<ClientEntry>,
}

/// A registered client, checked and with its keys loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub organisation: Organisation,
    pub scopes: Scopes,
    pub auditor: bool,
    pub relay: bool,
    pub county_statistics: bool,
    pub may_lift_protection: bool,
    pub keys: JwkSet,
    /// Certificate fingerprints (SHA-256, lower-case hex).
    pub certificates: Vec<String>,
    /// The consuming system's HSA-id on the national platform.
    pub hsa_id: Option<crate::domain::identifiers::HsaId>,
    /// The national service platform, calling for the consumers it names.
    pub platform: bool,
}

/// Reads and checks the clients file. Every problem names the file, the client and what is
/// wrong.
pub fn load_clients(path: &Path, directory: &Directory) -> Result<Vec<Client>, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("{}: cannot be read: {e}", path.display())])?;
    let file: ClientsFile =
        toml::from_str(&text).map_err(|e| vec![format!("{}: {}", path.display(), e.message())])?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut clients = Vec::new();
    let mut problems = Vec::new();
    for (i, entry) in file.clients.into_iter().enumerate() {
        let at = format!("{}: client[{i}] ({})", path.display(), entry.client_id);
        match client(entry, base, directory) {
            Ok(client) => {
                if clients
                    .iter()
                    .any(|c: &Client| c.client_id == client.client_id)
                {
                    problems.push(format!("{at}: the client_id is registered twice"));
                } else if let Some(other) = clients
                    .iter()
                    .find(|c| c.hsa_id.is_some() && c.hsa_id == client.hsa_id)
                {
                    problems.push(format!(
                        "{at}: hsa_id is registered for client {:?} too; a consuming system is one client",
                        other.client_id
                    ));
                } else {
                    clients.push(client);
                }
            }
            Err(problem) => problems.push(format!("{at}: {problem}")),
        }
    }
    if problems.is_empty() {
        Ok(clients)
    } else {
        Err(problems)
    }
}

fn client(entry: ClientEntry, base: &Path, directory: &Directory) -> Result<Client, String> {
    if entry.client_id.trim().is_empty() {
        return Err("client_id is empty".to_owned());
    }
    let organisation =
        Organisation::parse(&entry.organisation).map_err(|e| format!("organisation: {e}"))?;
    if !directory.has_organisation(&organisation) {
        return Err(format!(
            "organisation: {organisation} is not in the organisation directory"
        ));
    }
    let scopes = Scopes::parse(&entry.scopes.join(" ")).map_err(|e| format!("scopes: {e}"))?;
    let hsa_id = entry
        .hsa_id
        .as_deref()
        .map(|id| crate::domain::identifiers::HsaId::parse(id).map_err(|e| format!("hsa_id: {e}")))
        .transpose()?;
    if entry.platform && hsa_id.is_none() {
        return Err(
            "platform: the national service platform is known by its certificate's HSA-id; give hsa_id".to_owned(),
        );
    }
    let jwks_text = match (&entry.jwks, &entry.jwks_file) {
        (Some(inline), None) => inline.clone(),
        (None, Some(file)) => {
            let file = base.join(file);
            std::fs::read_to_string(&file)
                .map_err(|e| format!("jwks_file {}: {e}", file.display()))?
        }
        (Some(_), Some(_)) => return Err("give jwks or jwks_file, not both".to_owned()),
        // A national platform consumer is known by its certificate.
        (None, None) if hsa_id.is_some() => String::new(),
        (None, None) => {
            return Err(
                "no public keys: give jwks (a JWKS document) or jwks_file (or hsa_id, for a consumer of the national platform known by its certificate)".to_owned(),
            );
        }
    };
    let keys = if jwks_text.is_empty() {
        JwkSet { keys: Vec::new() }
    } else {
        parse_jwks(&jwks_text)?
    };
    let certificates = entry
        .certificates
        .iter()
        .map(|f| {
            let hex = f
                .chars()
                .filter(|c| *c != ':')
                .collect::<String>()
                .to_ascii_lowercase();
            if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(hex)
            } else {
                Err(format!(
                    "certificates: {f:?} is not a SHA-256 fingerprint (64 hex digits)"
                ))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Client {
        certificates,
        hsa_id,
        platform: entry.platform,
        client_id: entry.client_id,
        name: entry.name,
        organisation,
        scopes,
        auditor: entry.auditor,
        relay: entry.relay,
        county_statistics: entry.county_statistics,
        may_lift_protection: entry.may_lift_protection,
        keys,
    })
}

/// Reads a JWKS and keeps it only if every key is an RSA or EC public key; a private key in it
/// is an error (it should never leave its owner).
pub fn parse_jwks(text: &str) -> Result<JwkSet, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the JWKS is not JSON: {e}"))?;
    for (i, key) in value
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or("the JWKS has no \"keys\" array")?
        .iter()
        .enumerate()
    {
        if key.get("d").is_some() {
            return Err(format!(
                "key {i} of the JWKS is a private key; register only the public key"
            ));
        }
    }
    let set: JwkSet =
        serde_json::from_value(value).map_err(|e| format!("the JWKS is not valid: {e}"))?;
    if set.keys.is_empty() {
        return Err("the JWKS has no keys".to_owned());
    }
    for (i, key) in set.keys.iter().enumerate() {
        match key.algorithm {
            AlgorithmParameters::RSA(_) | AlgorithmParameters::EllipticCurve(_) => {}
            _ => {
                return Err(format!(
                    "key {i} of the JWKS is neither RSA nor EC; assertions are signed with RS384 or ES384"
                ));
            }
        }
    }
    Ok(set)
}
