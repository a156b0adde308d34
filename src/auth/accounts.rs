//! People's accounts for the web console on the embedded default: who they are, which
//! organisation they act for, their role, and their password as an argon2id hash (PHC string).
//! Read from the accounts file (`auth.accounts_file`, `accounts.toml` beside the settings);
//! `brygga user add` writes it.

use std::path::Path;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};

use crate::config::Directory;
use crate::domain::party::Organisation;

/// What a person may do in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Deliveries, subscriptions, the configuration: the integration operator.
    Operator,
    /// Deviations, cases and steps of their own organisation.
    Coordinator,
    /// The audit log and a person's log extract.
    Auditor,
    /// Statistics, de-identified only.
    FollowUp,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Operator,
        Role::Coordinator,
        Role::Auditor,
        Role::FollowUp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Coordinator => "coordinator",
            Role::Auditor => "auditor",
            Role::FollowUp => "follow-up",
        }
    }

    pub fn parse(text: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "role {text:?} is none of {}",
                    Role::ALL.map(Role::as_str).join(", ")
                )
            })
    }
}

/// An account as written in the accounts file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountEntry {
    pub username: String,
    /// The person's name, as the console greets them.
    pub name: String,
    /// A region's HSA-id or a municipality's kommunkod, of the organisation directory.
    pub organisation: String,
    pub role: Role,
    /// A follow-up account that sees every unit's statistics as the county's follow-up does,
    /// small figures suppressed (otherwise its own organisation's units).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub county_statistics: bool,
    /// argon2id, as `brygga user add` writes it (`$argon2id$v=19$…`).
    pub password_hash: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsFile {
    #[serde(default, rename = "account")]
    accounts: Vec<AccountEntry>,
}

/// A person's account, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub username: String,
    pub name: String,
    pub organisation: Organisation,
    pub role: Role,
    /// Sees the county's statistics (every unit, small figures suppressed).
    pub county_statistics: bool,
    password_hash: String,
}

/// The parameters passwords are hashed with: argon2id, 19 MiB, two passes (OWASP's minimum).
fn hasher() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters"),
    )
}

/// `password` as an argon2id PHC string with a random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    if password.chars().count() < 12 {
        return Err("a password has at least 12 characters".to_owned());
    }
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("the password could not be hashed: {e}"))
}

/// A hash of no password, to verify against when the username is unknown, so that an unknown
/// name takes as long as a wrong password.
static DECOY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(b"no account has this password", &salt)
        .map(|hash| hash.to_string())
        .unwrap_or_default()
});

impl Account {
    /// A person an identity provider signed in: known by its claims, with no password here.
    pub fn external(
        username: String,
        name: String,
        organisation: Organisation,
        role: Role,
    ) -> Account {
        Account {
            username,
            name,
            organisation,
            role,
            county_statistics: false,
            // Not a hash: no password verifies against it.
            password_hash: String::new(),
        }
    }

    /// Whether `password` is this account's.
    pub fn verify(&self, password: &str) -> bool {
        verify_hash(&self.password_hash, password)
    }
}

fn verify_hash(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The account `username` if `password` is its own; an unknown name costs a verification too.
pub fn sign_in<'a>(accounts: &'a [Account], username: &str, password: &str) -> Option<&'a Account> {
    match accounts.iter().find(|a| a.username == username) {
        Some(account) => account.verify(password).then_some(account),
        None => {
            verify_hash(&DECOY, password);
            None
        }
    }
}

fn account(entry: AccountEntry, directory: &Directory) -> Result<Account, String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@');
    if entry.username.is_empty() || entry.username.len() > 64 || !entry.username.chars().all(plain)
    {
        return Err(format!(
            "username {:?}: 1 to 64 letters, digits and . - _ @",
            entry.username
        ));
    }
    let organisation =
        Organisation::parse(&entry.organisation).map_err(|e| format!("organisation: {e}"))?;
    if !directory.has_organisation(&organisation) {
        return Err(format!(
            "organisation: {organisation} is not in the organisation directory"
        ));
    }
    if entry.county_statistics && entry.role != Role::FollowUp {
        return Err("county_statistics: only a follow-up account has the county's view".to_owned());
    }
    match PasswordHash::new(&entry.password_hash) {
        Ok(hash) if hash.algorithm.as_str() == "argon2id" => {}
        _ => {
            return Err(
                "password_hash: not an argon2id hash; set the password with `brygga user add`"
                    .to_owned(),
            );
        }
    }
    Ok(Account {
        username: entry.username,
        name: entry.name,
        organisation,
        role: entry.role,
        county_statistics: entry.county_statistics,
        password_hash: entry.password_hash,
    })
}

/// Reads and checks the accounts file; every problem names the file and the account.
pub fn load_accounts(path: &Path, directory: &Directory) -> Result<Vec<Account>, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("{}: cannot be read: {e}", path.display())])?;
    let file: AccountsFile =
        toml::from_str(&text).map_err(|e| vec![format!("{}: {}", path.display(), e.message())])?;
    let mut accounts: Vec<Account> = Vec::new();
    let mut problems = Vec::new();
    for (i, entry) in file.accounts.into_iter().enumerate() {
        let at = format!("{}: account[{i}] ({})", path.display(), entry.username);
        match account(entry, directory) {
            Ok(account) if accounts.iter().any(|a| a.username == account.username) => {
                problems.push(format!("{at}: the username is taken twice"));
            }
            Ok(account) => accounts.push(account),
            Err(problem) => problems.push(format!("{at}: {problem}")),
        }
    }
    if problems.is_empty() {
        Ok(accounts)
    } else {
        Err(problems)
    }
}

/// An account to add: who, for which organisation, in which role, and the password.
#[derive(Debug, Clone, Copy)]
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub name: &'a str,
    /// A region's HSA-id or a municipality's kommunkod.
    pub organisation: &'a str,
    pub role: Role,
    /// The county's statistics (a follow-up account only).
    pub county_statistics: bool,
    pub password: &'a str,
}

/// Adds an account to the accounts file at `path` (created if absent), its password hashed;
/// an account of the same username is replaced (a new password, organisation or role).
pub fn add_account(
    path: &Path,
    directory: &Directory,
    new: NewAccount<'_>,
) -> Result<bool, String> {
    let NewAccount {
        username,
        name,
        organisation,
        role,
        county_statistics,
        password,
    } = new;
    let mut file: AccountsFile = if path.exists() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?
    } else {
        AccountsFile::default()
    };
    let entry = AccountEntry {
        username: username.to_owned(),
        name: name.to_owned(),
        organisation: organisation.to_owned(),
        role,
        county_statistics,
        password_hash: hash_password(password)?,
    };
    account(entry.clone(), directory)?;
    let replaced = file.accounts.iter().any(|a| a.username == username);
    file.accounts.retain(|a| a.username != username);
    file.accounts.push(entry);
    let text = format!(
        "# The console's local accounts (brygga user add). Passwords are argon2id hashes.\n\n{}",
        toml::to_string(&file).map_err(|e| format!("the accounts cannot be written: {e}"))?
    );
    // Written whole beside the old file and renamed over it: never half a file.
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut temporary = tempfile::NamedTempFile::new_in(folder)
        .map_err(|e| format!("{}: cannot be written: {e}", folder.display()))?;
    std::io::Write::write_all(&mut temporary, text.as_bytes())
        .map_err(|e| format!("{}: cannot be written: {e}", path.display()))?;
    temporary
        .persist(path)
        .map_err(|e| format!("{}: cannot be written: {e}", path.display()))?;
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_verified_against_its_hash_and_nothing_else() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_hash(&hash, "correct horse battery"));
        assert!(!verify_hash(&hash, "correct horse batterY"));
        assert!(!verify_hash("not a hash", "correct horse battery"));
        assert!(hash_password("short").is_err());
        assert_eq!(Role::parse("follow-up").unwrap(), Role::FollowUp);
        assert!(Role::parse("admin").unwrap_err().contains("operator"));
    }
}
