//! The character encoding of a received XML document, as XML decides it: a byte order mark,
//! else the declaration's `encoding` (`<?xml version="1.0" encoding="ISO-8859-1"?>`), else
//! UTF-8. A document in another encoding than UTF-8 (Latin-1 and Windows-1252, common in older
//! Swedish case systems, UTF-16, …) is transcoded to UTF-8 before it is parsed; one in UTF-8 is
//! read in place. Names and positions in errors are the same either way (lines and characters).

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

use super::xml::{Limits, Position, XmlError};

/// The document's bytes as UTF-8: borrowed when they are UTF-8 already (checked by the
/// parser), transcoded otherwise. `transport`: the encoding the document came labelled with
/// (an HTTP `charset`), which counts only when the document says nothing of its own (no byte
/// order mark, no declared `encoding`): what a document says of itself decides. An encoding
/// that is unknown, or bytes that are not valid in it, are errors.
pub fn utf8<'a>(bytes: &'a [u8], transport: Option<&str>) -> Result<Cow<'a, [u8]>, XmlError> {
    let (encoding, body) = if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        (UTF_16BE, rest)
    } else if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        (UTF_16LE, rest)
    } else if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Ok(Cow::Borrowed(bytes));
    } else {
        match declared(bytes) {
            None => return labelled(bytes, transport),
            // Most documents say UTF-8: no need to look the label up.
            Some(label) if label.eq_ignore_ascii_case("UTF-8") => {
                return Ok(Cow::Borrowed(bytes));
            }
            Some(label) => {
                let encoding = for_label(label).ok_or_else(|| XmlError::UnknownEncoding {
                    label: label.to_owned(),
                })?;
                if encoding == UTF_8 {
                    return Ok(Cow::Borrowed(bytes));
                }
                if encoding == UTF_16BE || encoding == UTF_16LE {
                    // The declaration was read as ASCII: the bytes are not UTF-16.
                    return Err(XmlError::UnknownEncoding {
                        label: format!("{label} without a byte order mark"),
                    });
                }
                (encoding, bytes)
            }
        }
    };
    transcode(encoding, body)
}

/// `bytes` in `encoding`, as UTF-8; bytes the encoding cannot hold are an error at the first.
fn transcode(encoding: &'static Encoding, bytes: &[u8]) -> Result<Cow<'static, [u8]>, XmlError> {
    match encoding.decode_without_bom_handling_and_without_replacement(bytes) {
        Some(text) => Ok(Cow::Owned(text.into_owned().into_bytes())),
        None => Err(XmlError::InvalidBytes {
            encoding: encoding.name(),
            position: first_invalid(encoding, bytes),
        }),
    }
}

/// A document that says nothing of its encoding, in the one its transport names, if any.
fn labelled<'a>(bytes: &'a [u8], transport: Option<&str>) -> Result<Cow<'a, [u8]>, XmlError> {
    let Some(label) = transport else {
        return Ok(Cow::Borrowed(bytes));
    };
    let encoding = for_label(label).ok_or_else(|| XmlError::UnknownEncoding {
        label: format!("{label} (the charset of its Content-Type)"),
    })?;
    if encoding == UTF_8 {
        return Ok(Cow::Borrowed(bytes));
    }
    transcode(encoding, bytes)
}

/// The `charset` parameter of a media type (`application/xml; charset=ISO-8859-1`).
pub fn charset(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"'))
            .filter(|v| !v.is_empty())
    })
}

/// [`utf8`] for a document within `limits`: its size is checked as received, and the limits
/// returned are those to parse its UTF-8 with (the same, but for the size already checked).
pub fn utf8_within<'a>(
    bytes: &'a [u8],
    transport: Option<&str>,
    limits: &Limits,
) -> Result<(Cow<'a, [u8]>, Limits), XmlError> {
    if bytes.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            bytes: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let text = utf8(bytes, transport)?;
    let limits = Limits {
        max_bytes: limits.max_bytes.max(text.len()),
        ..*limits
    };
    Ok((text, limits))
}

/// An XML document as UTF-8 text, the same document: transcoded as [`utf8`] reads it, without
/// a byte order mark, its declared encoding (if it declares one) changed to UTF-8 — for keeping
/// a received document as text (a recording). Bytes [`utf8`] cannot read are an error.
pub fn utf8_document(bytes: &[u8], transport: Option<&str>) -> Result<String, XmlError> {
    let bytes = utf8(bytes, transport)?;
    let text = super::xml::utf8_text(&bytes)?;
    let mut text = text.strip_prefix('\u{FEFF}').unwrap_or(text).to_owned();
    if let Some(label) = declared(text.as_bytes()) {
        // `declared` hands out a slice of the text: where the label stands in it.
        let start = label.as_ptr() as usize - text.as_ptr() as usize;
        let end = start + label.len();
        text.replace_range(start..end, "UTF-8");
    }
    Ok(text)
}

/// The encoding a label names: a WHATWG label, or a spelling writers use that none is
/// (Python writes the codec name it was given into the declaration: `latin-1`, `iso8859_1`,
/// `utf_8`), read as the label it spells.
fn for_label(label: &str) -> Option<&'static Encoding> {
    if let Some(encoding) = Encoding::for_label(label.as_bytes()) {
        return Some(encoding);
    }
    Encoding::for_label(spelled(label).as_bytes())
}

/// `label` lower-cased, as the registry spells what writers spell otherwise: hyphens for
/// underscores, `latin1` for `latin-1`.
fn spelled(label: &str) -> String {
    let spelled = label.trim().to_ascii_lowercase().replace('_', "-");
    match spelled.strip_prefix("latin-") {
        Some(number) => format!("latin{number}"),
        None => spelled,
    }
}

/// The `encoding` of an XML declaration at the start of `bytes`, if it has one.
fn declared(bytes: &[u8]) -> Option<&str> {
    let head = bytes.strip_prefix(b"<?xml")?;
    let end = head.windows(2).take(512).position(|w| w == b"?>")?;
    let declaration = std::str::from_utf8(&head[..end]).ok()?;
    let after = &declaration[declaration.find("encoding")? + "encoding".len()..];
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|q| matches!(q, '"' | '\''))?;
    let value = &after[1..];
    Some(&value[..value.find(quote)?])
}

/// Where the first byte sequence `encoding` cannot read is, counted in characters as the
/// parser counts them.
fn first_invalid(encoding: &'static Encoding, bytes: &[u8]) -> Position {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(bytes.len() * 3);
    // Decodes up to the first sequence it cannot read.
    let (_stopped, _read) = decoder.decode_to_string_without_replacement(bytes, &mut out, true);
    super::xml::end_of(&out)
}

/// The name (of an element or attribute) in `markup` that the byte `at` is part of.
fn name_around(markup: &str, at: usize) -> &str {
    let ends = |c: char| c.is_whitespace() || matches!(c, '<' | '>' | '/' | '=');
    let start = markup[..at].rfind(ends).map_or(0, |i| i + 1);
    let end = markup[at..].find(ends).map_or(markup.len(), |i| at + i);
    &markup[start..end]
}

/// The encoding a document is written in, for a receiver that reads no other: UTF-8 (the
/// default), or another whose name the receiver knows (`ISO-8859-1` for older case systems).
/// What the encoding cannot hold is written as a character reference (`&#8364;`), which XML
/// reads as the character itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The name the declaration gives, as configured.
    label: String,
    repertoire: Repertoire,
}

/// The characters an encoding holds. Web browsers read the labels of ASCII and Latin-1 as
/// Windows-1252 (as `encoding_rs` does); a receiver that takes the label at its word holds
/// only the characters the label names, so only those are written as themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repertoire {
    Utf8,
    Ascii,
    Latin1,
    Other(&'static Encoding),
}

/// The labels (WHATWG's, which read them as Windows-1252) that name ASCII or ISO-8859-1.
const ASCII_LABELS: &[&str] = &[
    "ascii",
    "us-ascii",
    "ansi_x3.4-1968",
    "iso-ir-6",
    "iso646-us",
    "csascii",
    "us",
];
const LATIN_1_LABELS: &[&str] = &[
    "iso-8859-1",
    "iso8859-1",
    "iso88591",
    "iso_8859-1",
    "iso_8859-1:1987",
    "iso-ir-100",
    "l1",
    "latin1",
    "cp819",
    "ibm819",
    "csisolatin1",
];

impl Output {
    pub fn utf8() -> Output {
        Output {
            label: "UTF-8".to_owned(),
            repertoire: Repertoire::Utf8,
        }
    }

    /// The encoding `label` names, if a document can be written in it: one that writes XML's
    /// markup as ASCII (not UTF-16) and that a receiver can be named.
    pub fn parse(label: &str) -> Result<Output, String> {
        let label = label.trim();
        let encoding = for_label(label).ok_or_else(|| {
            format!("{label:?} is not an encoding name (e.g. UTF-8, ISO-8859-1, windows-1252)")
        })?;
        let lower = spelled(label);
        let repertoire = if encoding == UTF_8 {
            Repertoire::Utf8
        } else if ASCII_LABELS.contains(&lower.as_str()) {
            Repertoire::Ascii
        } else if LATIN_1_LABELS.contains(&lower.as_str()) {
            Repertoire::Latin1
        } else if encoding.output_encoding() != encoding || !encoding.is_ascii_compatible() {
            return Err(format!(
                "{label} cannot be written: its documents do not write XML's markup as ASCII (UTF-16 needs no declaration; use UTF-8)"
            ));
        } else {
            Repertoire::Other(encoding)
        };
        Ok(Output {
            label: label.to_owned(),
            repertoire,
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn is_utf8(&self) -> bool {
        self.repertoire == Repertoire::Utf8
    }

    /// Whether the encoding holds `text` as it is (a name must be: markup has no references).
    pub fn holds(&self, text: &str) -> bool {
        match self.repertoire {
            Repertoire::Utf8 => true,
            Repertoire::Ascii => text.is_ascii(),
            Repertoire::Latin1 => text.chars().all(|c| (c as u32) < 0x100),
            Repertoire::Other(encoding) => !encoding.encode(text).2,
        }
    }

    /// `media` with this encoding as its `charset` (`application/xml; charset=ISO-8859-1`).
    pub fn media_type(&self, media: &str) -> String {
        format!("{media}; charset={}", self.label)
    }

    /// `document`, as written (UTF-8, with or without a declaration), in this encoding: its
    /// declaration names this encoding, and a character the encoding does not hold is written
    /// as a character reference. A name (of an element or attribute) the encoding cannot hold
    /// is an error, since markup has no references.
    pub fn bytes<'a>(&self, document: &'a str) -> Result<Cow<'a, [u8]>, String> {
        if self.is_utf8() {
            return Ok(Cow::Borrowed(document.as_bytes()));
        }
        let body = match document.strip_prefix("<?xml") {
            Some(rest) => rest.find("?>").map_or(document, |end| &rest[end + 2..]),
            None => document,
        };
        let mut out = Vec::with_capacity(document.len() + 64);
        out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"");
        out.extend_from_slice(self.label.as_bytes());
        out.extend_from_slice(b"\"?>");
        // Where a character is: in text or an attribute's value (a reference will do) or in
        // markup (it will not). Comments and processing instructions are not written.
        let mut in_tag = false;
        let mut quote: Option<char> = None;
        let mut buffer = [0u8; 4];
        for (at, c) in body.char_indices() {
            match (in_tag, quote, c) {
                (false, _, '<') => in_tag = true,
                (true, None, '>') => in_tag = false,
                (true, None, '"' | '\'') => quote = Some(c),
                (true, Some(q), _) if q == c => quote = None,
                _ => {}
            }
            let encoded = match self.repertoire {
                Repertoire::Latin1 if (c as u32) < 0x100 => {
                    out.push(c as u32 as u8);
                    continue;
                }
                _ if c.is_ascii() => {
                    out.push(c as u8);
                    continue;
                }
                Repertoire::Other(encoding) => {
                    let (bytes, _, unmappable) = encoding.encode(c.encode_utf8(&mut buffer));
                    (!unmappable).then_some(bytes)
                }
                _ => None,
            };
            match encoded {
                Some(bytes) => out.extend_from_slice(&bytes),
                None if in_tag && quote.is_none() => {
                    return Err(format!(
                        "the name {:?} cannot be written in {}: XML names have no character references",
                        name_around(body, at),
                        self.label
                    ));
                }
                None => out.extend_from_slice(format!("&#{};", c as u32).as_bytes()),
            }
        }
        Ok(Cow::Owned(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::xml;

    const DOC: &str = "<?xml version=\"1.0\" encoding=\"ENC\"?>\n<a k=\"Östersund\">\n  <b>Åsa Lindqvöst</b>\n</a>";

    fn with(label: &str) -> String {
        DOC.replace("ENC", label)
    }

    fn windows_1252(text: &str) -> Vec<u8> {
        encoding_rs::WINDOWS_1252.encode(text).0.into_owned()
    }

    #[test]
    fn latin_1_windows_1252_and_utf_16_are_read_as_utf_8() {
        let expected = "Åsa Lindqvöst";
        let latin1 = windows_1252(&with("ISO-8859-1"));
        let cp1252 = windows_1252(&with("windows-1252"));
        let utf16le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(with("UTF-16").encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let utf16be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(with("UTF-16").encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        let bom: Vec<u8> = [0xEF, 0xBB, 0xBF]
            .into_iter()
            .chain(with("UTF-8").bytes())
            .collect();
        for bytes in [&latin1[..], &cp1252[..], &utf16le, &utf16be, &bom] {
            let text = utf8(bytes, None).unwrap();
            let root = xml::parse(&text).unwrap();
            assert_eq!(root.attribute("k"), Some("Östersund"));
            assert_eq!(root.child("b").unwrap().text(), expected);
        }
        // UTF-8, declared or not, is read in place.
        assert!(matches!(
            utf8(with("UTF-8").as_bytes(), None),
            Ok(Cow::Borrowed(_))
        ));
        assert!(matches!(utf8(b"<a/>", None), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn a_transports_charset_decides_only_what_the_document_does_not_say() {
        let undeclared = DOC.replace(" encoding=\"ENC\"", "");
        let latin1 = windows_1252(&undeclared);
        let read = utf8(&latin1, Some("ISO-8859-1")).unwrap();
        assert_eq!(&*read, undeclared.as_bytes());
        // The document's own declaration stands, whatever the transport says.
        let declared = windows_1252(&with("ISO-8859-1"));
        let text = utf8(&declared, Some("utf-8")).unwrap();
        assert_eq!(xml::parse(&text).unwrap().attribute("k"), Some("Östersund"));
        // A size within the limits as received is within them as read, however it grows.
        let limits = Limits {
            max_bytes: latin1.len(),
            ..Limits::default()
        };
        let (text, limits) = utf8_within(&latin1, Some("latin1"), &limits).unwrap();
        assert!(text.len() > latin1.len());
        xml::parse_within(&text, &limits).unwrap();
        assert!(matches!(
            utf8(&latin1, Some("klingon")).unwrap_err(),
            XmlError::UnknownEncoding { label } if label.contains("Content-Type")
        ));
        assert_eq!(
            charset("application/xml; charset=\"ISO-8859-1\""),
            Some("ISO-8859-1")
        );
        assert_eq!(charset("text/xml;Charset=latin1;x=y"), Some("latin1"));
        assert_eq!(charset("application/xml"), None);
    }

    #[test]
    fn an_unknown_encoding_or_bytes_it_cannot_hold_are_refused_with_where() {
        assert_eq!(
            utf8(with("EBCDIC-SV").as_bytes(), None).unwrap_err(),
            XmlError::UnknownEncoding {
                label: "EBCDIC-SV".into()
            }
        );
        // Latin-1 bytes declared as UTF-8: not UTF-8, with the first bad byte's place.
        let latin1 = windows_1252(&with("UTF-8"));
        let error = xml::parse(&utf8(&latin1, None).unwrap()).unwrap_err();
        assert_eq!(
            error,
            XmlError::NotUtf8 {
                position: Position { line: 2, column: 7 }
            }
        );
        assert!(error.to_string().contains("line 2, column 7"), "{error}");
        // Shift_JIS with a broken sequence.
        let mut sjis = with("Shift_JIS").into_bytes();
        sjis.retain(|b| b.is_ascii());
        sjis.extend_from_slice(&[0x81]);
        assert!(matches!(
            utf8(&sjis, None).unwrap_err(),
            XmlError::InvalidBytes {
                encoding: "Shift_JIS",
                ..
            }
        ));
        assert!(matches!(
            utf8(with("UTF-16").as_bytes(), None).unwrap_err(),
            XmlError::UnknownEncoding { .. }
        ));
    }

    /// A tree's every name, attribute and text, for comparing two documents.
    fn texts(element: &xml::Element<'_>, out: &mut Vec<String>) {
        out.push(format!("<{}>{}", element.name, element.text));
        for attribute in &element.attributes {
            out.push(format!("@{}={}", attribute.name, attribute.value));
        }
        for child in &element.children {
            texts(child, out);
        }
    }

    fn read_back(bytes: &[u8]) -> Vec<String> {
        let text = utf8(bytes, None).unwrap();
        let mut out = Vec::new();
        texts(&xml::parse(&text).unwrap(), &mut out);
        out
    }

    const WRITTEN: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Ärende namn=\"Åsa &amp; Łucja €\">\n  <Text>Östersund – 5 € 中</Text>\n</Ärende>\n";

    #[test]
    fn a_document_is_written_in_its_encoding_with_references_for_what_it_lacks() {
        let original = read_back(WRITTEN.as_bytes());
        let latin1 = Output::parse("ISO-8859-1").unwrap();
        let bytes = latin1.bytes(WRITTEN).unwrap();
        // Latin-1 holds Å, Ä and Ö as single bytes; the euro sign, the dash, Ł and 中 are not
        // Latin-1 (Windows-1252 has € and – at 0x80 and 0x96, which Latin-1 reads as controls).
        assert!(bytes.starts_with(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<\xC4rende"));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("&#8364;") && text.contains("&#8211;") && text.contains("&#321;"));
        assert!(!bytes.contains(&0x80) && !bytes.contains(&0x96));
        assert_eq!(read_back(&bytes), original);

        let ascii = Output::parse("US-ASCII").unwrap();
        assert!(
            ascii
                .bytes("<a>Åsa</a>")
                .unwrap()
                .ends_with(b"<a>&#197;sa</a>")
        );
        assert!(ascii.bytes(WRITTEN).is_err(), "Ä in a name");

        let cp1252 = Output::parse("windows-1252").unwrap();
        let bytes = cp1252.bytes(WRITTEN).unwrap();
        assert!(
            bytes.contains(&0x80) && bytes.contains(&0x96),
            "€ and – are Windows-1252"
        );
        assert_eq!(read_back(&bytes), original);

        // Shift_JIS holds 中 but not Ä: in a name that is an error, in text a reference.
        let sjis = Output::parse("Shift_JIS").unwrap();
        let error = sjis.bytes(WRITTEN).unwrap_err();
        assert!(
            error.contains("the name \"Ärende\" cannot be written in Shift_JIS"),
            "{error}"
        );
        let error = Output::parse("US-ASCII")
            .unwrap()
            .bytes("<a b=\"1\" nämn=\"x\"/>")
            .unwrap_err();
        assert!(error.contains("the name \"nämn\""), "{error}");
        let ascii_names = "<a k=\"Åsa 中\">Östersund 中</a>";
        let bytes = sjis.bytes(ascii_names).unwrap();
        assert!(String::from_utf8_lossy(&bytes).contains("&#197;sa"));
        assert_eq!(read_back(&bytes), read_back(ascii_names.as_bytes()));

        let utf8 = Output::parse("utf8").unwrap();
        assert!(utf8.is_utf8());
        assert_eq!(&*utf8.bytes(WRITTEN).unwrap(), WRITTEN.as_bytes());
        assert_eq!(
            latin1.media_type("application/xml"),
            "application/xml; charset=ISO-8859-1"
        );
    }

    #[test]
    fn an_encoding_a_document_cannot_be_written_in_is_refused_by_name() {
        let error = Output::parse("EBCDIC-SV").unwrap_err();
        assert!(
            error.contains("\"EBCDIC-SV\" is not an encoding name"),
            "{error}"
        );
        for label in ["UTF-16", "UTF-16BE", "ISO-2022-JP", "replacement"] {
            assert!(Output::parse(label).is_err(), "{label}");
        }
        let latin1 = Output::parse("latin1").unwrap();
        assert!(latin1.holds("Ärende") && !latin1.holds("Łucja"));
    }

    proptest::proptest! {
        /// Whatever the text and attribute values, a document written in an encoding reads
        /// back as the same document.
        #[test]
        fn a_document_in_any_encoding_reads_back_as_itself(
            text in "[a-zA-Z0-9 åäöÅÄÖéü€Łł中–…\"'<>&]{0,40}",
            value in "[a-zA-Z0-9 åäöÅÄÖéü€Łł中–…\"'<>&]{0,40}",
        ) {
            use quick_xml::escape::escape;
            let document = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a k=\"{}\"><b>{}</b></a>\n",
                escape(value.as_str()),
                escape(text.as_str())
            );
            let original = read_back(document.as_bytes());
            for label in ["ISO-8859-1", "US-ASCII", "windows-1252", "Shift_JIS", "ISO-8859-15"] {
                let bytes = Output::parse(label).unwrap().bytes(&document).unwrap();
                proptest::prop_assert_eq!(read_back(&bytes), original.clone(), "{}", label);
            }
        }
    }

    #[test]
    fn a_document_kept_as_text_is_utf_8_and_says_so() {
        let latin1 = windows_1252(&with("ISO-8859-1"));
        let kept = utf8_document(&latin1, None).unwrap();
        assert_eq!(kept, with("UTF-8"));
        let bom: Vec<u8> = [0xEF, 0xBB, 0xBF]
            .into_iter()
            .chain(with("UTF-8").into_bytes())
            .collect();
        assert_eq!(utf8_document(&bom, None).unwrap(), with("UTF-8"));
        // Without a declaration, in the transport's charset: kept without one.
        let bare = DOC.replacen(" encoding=\"ENC\"", "", 1);
        let kept = utf8_document(&windows_1252(&bare), Some("ISO-8859-1")).unwrap();
        assert_eq!(kept, bare);
        let error = utf8_document(&windows_1252(&bare), None).unwrap_err();
        assert_eq!(
            error,
            XmlError::NotUtf8 {
                position: Position { line: 2, column: 7 }
            }
        );
    }

    #[test]
    fn the_names_python_writes_into_declarations_are_read() {
        for label in ["latin-1", "Latin_1", "iso8859_1", "utf_8", "ISO_8859-1"] {
            let bytes = if label.starts_with("utf") {
                with(label).into_bytes()
            } else {
                windows_1252(&with(label))
            };
            let text = utf8(&bytes, None).unwrap_or_else(|e| panic!("{label}: {e}"));
            let root = xml::parse(&text).unwrap();
            assert_eq!(root.attribute("k"), Some("Östersund"), "{label}");
        }
        assert_eq!(
            Output::parse("latin-1")
                .unwrap()
                .bytes("<a>€</a>")
                .unwrap()
                .as_ref(),
            b"<?xml version=\"1.0\" encoding=\"latin-1\"?><a>&#8364;</a>"
        );
        assert!(for_label("latin-x").is_none() && for_label("EBCDIC").is_none());
    }
}
