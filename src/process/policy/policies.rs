//! Every policy in force: the national default and the agreements, read from their files,
//! and the choice of the one a case follows.

use std::path::{Path, PathBuf};

use super::{Policy, PolicyError, PolicyFile};
use crate::domain::identifiers::{HsaId, Kommunkod};

/// Every policy: the default and the agreements.
#[derive(Debug, Clone, PartialEq)]
pub struct Policies {
    pub default: Policy,
    pub agreements: Vec<Policy>,
}

impl Policies {
    /// Reads every `*.toml` under `dir`; exactly one must be the default.
    pub fn load(dir: &Path) -> Result<Policies, PolicyError> {
        let error = |file: &Path, problem: String| PolicyError {
            file: file.display().to_string(),
            problem,
        };
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| error(dir, e.to_string()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        Policies::load_files(&paths, dir)
    }

    /// Reads the policy files `paths` (a chosen set, e.g. a scenario's); exactly one must be
    /// the default. `named` is what an error names when none is.
    pub fn load_files(paths: &[PathBuf], named: &Path) -> Result<Policies, PolicyError> {
        let error = |file: &Path, problem: String| PolicyError {
            file: file.display().to_string(),
            problem,
        };
        let mut default = None;
        let mut agreements: Vec<Policy> = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(path).map_err(|e| error(path, e.to_string()))?;
            let file: PolicyFile = toml::from_str(&text).map_err(|e| error(path, e.to_string()))?;
            let (policy, is_default) = Policy::from_file(file).map_err(|p| error(path, p))?;
            let duplicate = agreements
                .iter()
                .chain(default.iter())
                .any(|p| p.id == policy.id);
            if duplicate {
                return Err(error(
                    path,
                    format!("id {:?} is used by another policy", policy.id),
                ));
            }
            if is_default {
                if default.is_some() {
                    return Err(error(
                        path,
                        "a second default policy; exactly one file has default = true".to_owned(),
                    ));
                }
                default = Some(policy);
            } else {
                agreements.push(policy);
            }
        }
        let default = default.ok_or_else(|| {
            error(
                named,
                "no default policy; exactly one file has default = true".to_owned(),
            )
        })?;
        Ok(Policies {
            default,
            agreements,
        })
    }

    /// The policy named by a rule such as `jamtland/sip_invitation`, or the default.
    pub fn for_rule(&self, rule: &str) -> &Policy {
        let id = rule.split('/').next().unwrap_or_default();
        self.agreements
            .iter()
            .find(|p| p.id == id)
            .unwrap_or(&self.default)
    }

    /// The policies with `functions` as the function code table of each.
    pub fn with_functions(mut self, functions: crate::process::functions::Functions) -> Policies {
        let functions = std::sync::Arc::new(functions);
        for policy in std::iter::once(&mut self.default).chain(self.agreements.iter_mut()) {
            policy.functions = functions.clone();
        }
        self
    }

    /// The agreement that covers the parties of `case`, whoever opened it: the region that
    /// issued it (`issuer`, when a region's HSA-id) or the region of any of its units, with its
    /// first municipality (or the issuing municipality). A case no region takes part in yet (a
    /// municipality's own, e.g. a placement) follows the agreement that covers its
    /// municipality. Otherwise the default.
    pub fn for_parties(
        &self,
        issuer: &str,
        case: &crate::domain::case::CoordinationCase,
        directory: &crate::config::Directory,
    ) -> &Policy {
        let municipality = case
            .municipalities()
            .first()
            .copied()
            .or_else(|| Kommunkod::parse(issuer).ok());
        let mut providers: Vec<&str> = Vec::new();
        if HsaId::parse(issuer).is_ok() {
            providers.push(issuer);
        }
        providers.extend(
            case.region_units()
                .iter()
                .filter_map(|unit| directory.region_of(unit))
                .map(|region| region.hsa_id.as_str()),
        );
        if providers.is_empty() {
            return municipality
                .and_then(|code| {
                    self.agreements
                        .iter()
                        .find(|p| p.municipalities.contains(&code))
                })
                .unwrap_or(&self.default);
        }
        providers
            .iter()
            .find_map(|provider| {
                self.agreements
                    .iter()
                    .find(|p| p.covers(provider, municipality))
            })
            .unwrap_or(&self.default)
    }

    /// The agreement between `care_provider` (the region, as the case's issuer) and
    /// `municipality`, or the default.
    pub fn for_case(&self, care_provider: &str, municipality: Option<Kommunkod>) -> &Policy {
        self.agreements
            .iter()
            .find(|p| p.covers(care_provider, municipality))
            .unwrap_or(&self.default)
    }
}
