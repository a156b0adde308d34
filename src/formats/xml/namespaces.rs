//! The namespace declarations in scope while a document is parsed, read in the same pass over
//! an element's attributes as the attributes themselves.
//!
//! Follows Namespaces in XML 1.0 as quick-xml's resolver does (its error texts, its limit on
//! declarations in scope): `xml` is always bound and cannot be rebound elsewhere, `xmlns`
//! cannot be declared, neither namespace can be given another prefix, `xmlns=""` leaves
//! unprefixed elements in no namespace, and a prefix declared empty (`xmlns:p=""`) is unknown.

use std::rc::Rc;

use quick_xml::name::NamespaceError;

/// The namespace `xml:lang` and `xml:space` are in, bound to `xml` in every document.
const XML: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace of the declarations themselves.
const XMLNS: &str = "http://www.w3.org/2000/xmlns/";
/// Declarations in scope at once, at most: beyond, a document is refused.
const MAX_BINDINGS: usize = quick_xml::name::DEFAULT_MAX_NAMESPACE_BINDINGS;

/// One declaration: its prefix (`None`: the default namespace), the namespace (`None`: none,
/// as `xmlns=""` and `xmlns:p=""` declare) and the depth of the element that made it.
struct Binding<'d> {
    prefix: Option<&'d str>,
    namespace: Option<Rc<str>>,
    depth: usize,
}

/// The declarations in scope, innermost last; every namespace name kept once per document.
#[derive(Default)]
pub(super) struct Scopes<'d> {
    bindings: Vec<Binding<'d>>,
    names: Vec<Rc<str>>,
}

impl<'d> Scopes<'d> {
    /// The shared name of `uri`.
    fn name(&mut self, uri: &str) -> Rc<str> {
        if let Some(known) = self.names.iter().find(|n| &***n == uri) {
            return known.clone();
        }
        let known: Rc<str> = uri.into();
        self.names.push(known.clone());
        known
    }

    /// Takes the attribute `key="value"` as a declaration made by the element at `depth` if it
    /// is one (`Ok(true)`); a declaration XML forbids is an error, in quick-xml's words.
    pub(super) fn declare(
        &mut self,
        key: &'d str,
        value: &str,
        depth: usize,
    ) -> Result<bool, String> {
        let prefix = match key.strip_prefix("xmlns") {
            Some("") => None,
            Some(rest) => match rest.strip_prefix(':') {
                Some("") => return Err("an empty namespace prefix is declared (xmlns:)".into()),
                Some(prefix) => Some(prefix),
                // `xmlnsfoo`: an ordinary attribute.
                None => return Ok(false),
            },
            None => return Ok(false),
        };
        match prefix {
            Some("xml") if value == XML => return Ok(true),
            Some("xml") => {
                return Err(NamespaceError::InvalidXmlPrefixBind(value.to_owned()).to_string());
            }
            Some("xmlns") => {
                return Err(NamespaceError::InvalidXmlnsPrefixBind(value.to_owned()).to_string());
            }
            Some(prefix) if value == XML => {
                return Err(NamespaceError::InvalidPrefixForXml(prefix.to_owned()).to_string());
            }
            Some(prefix) if value == XMLNS => {
                return Err(NamespaceError::InvalidPrefixForXmlns(prefix.to_owned()).to_string());
            }
            _ => {}
        }
        if self
            .bindings
            .iter()
            .rev()
            .take_while(|b| b.depth == depth)
            .any(|b| b.prefix == prefix)
        {
            return Err(match prefix {
                Some(prefix) => format!("the namespace prefix '{prefix}' is declared twice"),
                None => "the default namespace is declared twice".to_owned(),
            });
        }
        if self.bindings.len() >= MAX_BINDINGS {
            return Err(NamespaceError::TooManyBindings(MAX_BINDINGS).to_string());
        }
        let namespace = (!value.is_empty()).then(|| self.name(value));
        self.bindings.push(Binding {
            prefix,
            namespace,
            depth,
        });
        Ok(true)
    }

    /// The namespace of an element name's `prefix` (`None`: unprefixed, in the default
    /// namespace). `Err` for a prefix not declared.
    pub(super) fn element(&mut self, prefix: Option<&str>) -> Result<Option<Rc<str>>, ()> {
        match prefix {
            None => Ok(self
                .bindings
                .iter()
                .rev()
                .find(|b| b.prefix.is_none())
                .and_then(|b| b.namespace.clone())),
            Some(prefix) => self.prefixed(prefix).map(Some),
        }
    }

    /// The namespace of a prefixed name (an attribute's is never the default namespace).
    pub(super) fn prefixed(&mut self, prefix: &str) -> Result<Rc<str>, ()> {
        match prefix {
            "xml" => Ok(self.name(XML)),
            "xmlns" => Ok(self.name(XMLNS)),
            _ => self
                .bindings
                .iter()
                .rev()
                .find(|b| b.prefix == Some(prefix))
                .and_then(|b| b.namespace.clone())
                .ok_or(()),
        }
    }

    /// Ends the scope of the declarations made deeper than `depth`.
    pub(super) fn close(&mut self, depth: usize) {
        while self.bindings.last().is_some_and(|b| b.depth > depth) {
            self.bindings.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_are_scoped_to_their_element_and_shadow_outer_ones() {
        let mut scopes = Scopes::default();
        assert!(scopes.declare("xmlns", "urn:a", 1).unwrap());
        assert!(scopes.declare("xmlns:p", "urn:p", 1).unwrap());
        assert!(!scopes.declare("xmlnsx", "urn:x", 1).unwrap());
        assert!(!scopes.declare("id", "1", 1).unwrap());
        assert_eq!(scopes.element(None).unwrap().as_deref(), Some("urn:a"));
        assert!(scopes.declare("xmlns", "", 2).unwrap());
        assert!(scopes.declare("xmlns:p", "urn:q", 2).unwrap());
        assert_eq!(scopes.element(None).unwrap(), None);
        assert_eq!(&*scopes.prefixed("p").unwrap(), "urn:q");
        scopes.close(1);
        assert_eq!(scopes.element(None).unwrap().as_deref(), Some("urn:a"));
        assert_eq!(&*scopes.prefixed("p").unwrap(), "urn:p");
        assert_eq!(&*scopes.prefixed("xml").unwrap(), XML);
        assert!(scopes.prefixed("q").is_err());
        // A namespace is kept once, however often it is declared.
        let a = scopes.element(None).unwrap().unwrap();
        scopes.declare("xmlns:a", "urn:a", 2).unwrap();
        assert!(Rc::ptr_eq(&a, &scopes.prefixed("a").unwrap()));
        // A prefix declared empty is undeclared.
        scopes.declare("xmlns:p", "", 3).unwrap();
        assert!(scopes.prefixed("p").is_err());
        scopes.close(0);
        assert_eq!(scopes.element(None).unwrap(), None);
    }

    #[test]
    fn forbidden_declarations_are_refused_by_name() {
        let mut scopes = Scopes::default();
        assert!(scopes.declare("xmlns:xml", XML, 1).unwrap());
        let refused = [
            ("xmlns:xml", "urn:other", "urn:other"),
            ("xmlns:xmlns", "urn:x", "'xmlns'"),
            ("xmlns:p", XML, "'p'"),
            ("xmlns:p", XMLNS, "'p'"),
            ("xmlns:", "urn:x", "empty namespace prefix"),
        ];
        for (key, value, named) in refused {
            let error = scopes.declare(key, value, 1).unwrap_err();
            assert!(error.contains(named), "{key}={value}: {error}");
        }
        for i in 0..MAX_BINDINGS {
            scopes
                .declare(&*format!("xmlns:p{i}").leak(), "urn:x", 1)
                .unwrap();
        }
        let error = scopes.declare("xmlns:one-more", "urn:x", 1).unwrap_err();
        assert!(error.contains(&MAX_BINDINGS.to_string()), "{error}");
    }
}
