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

    /// Each element's and attribute's namespace as quick-xml's own resolver finds it, in
    /// document order (`Err(prefix)` for a prefix it does not know; `None` where the document
    /// is not namespace-well-formed at all).
    fn as_quick_xml_resolves(document: &str) -> Option<Vec<Result<Option<String>, String>>> {
        use quick_xml::events::Event;
        use quick_xml::name::{QName, ResolveResult};
        let resolved = |r: ResolveResult<'_>| match r {
            ResolveResult::Bound(ns) => Ok(Some(ns.0.to_owned())),
            ResolveResult::Unbound => Ok(None),
            ResolveResult::Unknown(prefix) => Err(prefix),
        };
        let mut reader = quick_xml::reader::NsReader::from_str(document);
        let mut out = Vec::new();
        loop {
            match reader.read_resolved_event().ok()? {
                (r, Event::Start(start) | Event::Empty(start)) => {
                    out.push(resolved(r));
                    for attribute in start.attributes() {
                        let key = attribute.ok()?.key;
                        if key.as_namespace_binding().is_none() {
                            let (r, _) = reader.resolver().resolve_attribute(QName(key.0));
                            out.push(resolved(r));
                        }
                    }
                }
                (_, Event::Eof) => return Some(out),
                _ => {}
            }
        }
    }

    /// The same, as the gateway's parser finds it; `Err(prefix)` for the first unknown one.
    fn as_parsed(document: &str) -> Result<Vec<Option<String>>, String> {
        fn walk(element: &super::super::Element, out: &mut Vec<Option<String>>) {
            out.push(element.namespace.as_deref().map(str::to_owned));
            for attribute in &element.attributes {
                out.push(attribute.namespace.as_deref().map(str::to_owned));
            }
            for child in &element.children {
                walk(child, out);
            }
        }
        match super::super::parse(document.as_bytes()) {
            Ok(root) => {
                let mut out = Vec::new();
                walk(&root, &mut out);
                Ok(out)
            }
            Err(super::super::XmlError::UnknownPrefix { prefix, .. }) => Err(prefix),
            Err(other) => panic!("{document}: {other}"),
        }
    }

    /// One element of a generated document: its declarations (prefix or `""` for the default,
    /// namespace or `""`), its name's prefix, its attributes' prefixes and its children.
    #[derive(Debug, Clone)]
    struct Generated {
        declarations: Vec<(&'static str, &'static str)>,
        prefix: &'static str,
        attributes: Vec<&'static str>,
        children: Vec<Generated>,
    }

    fn generated() -> impl proptest::strategy::Strategy<Value = Generated> {
        use proptest::prelude::*;
        let prefix = prop::sample::select(vec!["", "a", "b", "xml"]);
        let namespace = prop::sample::select(vec!["", "urn:x", "urn:y"]);
        let declarations =
            prop::collection::btree_map(prop::sample::select(vec!["", "a", "b"]), namespace, 0..3)
                .prop_map(|d| d.into_iter().collect::<Vec<_>>());
        let attributes = prop::collection::vec(prefix.clone(), 0..3);
        let leaf =
            (declarations, prefix, attributes).prop_map(|(declarations, prefix, attributes)| {
                Generated {
                    declarations,
                    prefix,
                    attributes,
                    children: Vec::new(),
                }
            });
        leaf.prop_recursive(3, 12, 3, |inner| {
            (inner.clone(), prop::collection::vec(inner, 0..3)).prop_map(
                |(mut element, children)| {
                    element.children = children;
                    element
                },
            )
        })
    }

    fn write(element: &Generated, out: &mut String) {
        let name = |prefix: &str, local: &str| match prefix {
            "" => local.to_owned(),
            prefix => format!("{prefix}:{local}"),
        };
        out.push('<');
        out.push_str(&name(element.prefix, "e"));
        for (prefix, namespace) in &element.declarations {
            out.push_str(&format!(
                " {}=\"{namespace}\"",
                name(
                    if prefix.is_empty() { "" } else { "xmlns" },
                    if prefix.is_empty() { "xmlns" } else { prefix },
                )
            ));
        }
        // Distinct local names: attributes that one namespace would make one are another test.
        for (i, prefix) in element.attributes.iter().enumerate() {
            out.push_str(&format!(" {}=\"v\"", name(prefix, &format!("k{i}"))));
        }
        out.push('>');
        for child in &element.children {
            write(child, out);
        }
        out.push_str(&format!("</{}>", name(element.prefix, "e")));
    }

    proptest::proptest! {
        /// Whatever the declarations, their nesting and the prefixes used, every element and
        /// attribute is in the namespace quick-xml's own resolver puts it in, and a prefix it
        /// does not know is refused by name.
        #[test]
        fn names_resolve_as_quick_xml_resolves_them(element in generated()) {
            let mut document = String::new();
            write(&element, &mut document);
            let Some(expected) = as_quick_xml_resolves(&document) else {
                return Ok(());
            };
            match expected.iter().find_map(|r| r.as_ref().err()) {
                Some(unknown) => {
                    proptest::prop_assert_eq!(as_parsed(&document), Err(unknown.clone()), "{}", document);
                }
                None => {
                    let expected: Vec<Option<String>> = expected.into_iter().flatten().collect();
                    proptest::prop_assert_eq!(as_parsed(&document), Ok(expected), "{}", document);
                }
            }
        }
    }
}
