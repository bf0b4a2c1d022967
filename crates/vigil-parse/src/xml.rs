//! XML records, with fields picked by XPath-like selectors.
//!
//! Documents are read by `roxmltree` (no DTD, bounded entity expansion, a non-recursive
//! tokenizer) under three caps: [`XmlLimits::max_size`] bytes, [`XmlLimits::max_nodes`] nodes
//! and [`XmlLimits::max_depth`] levels of element nesting.
//!
//! **Selectors** ([`XPath`]) are the part of XPath 1.0 that log mappings use:
//!
//! | selector | selects |
//! |---|---|
//! | `/Event/System/EventID` | child steps from the root |
//! | `//Data` | descendants at any depth |
//! | `*` | any element |
//! | `[@Name='TargetUserName']`, `[@Name]` | elements with that attribute (value) |
//! | `[Channel='Security']` | elements with a child of that text |
//! | `[2]` | the second match under each parent (1-based) |
//! | `/@Name` (last step) | an attribute instead of the element |
//! | `/text()` (last step) | the element's text (the default) |
//!
//! Names match the local name and ignore namespaces (`e:Data` matches any `Data`). An element
//! selects its text content (all descendant text, concatenated). One match gives a
//! [`FieldValue::Str`], several a [`FieldValue::List`], none no field.
//!
//! Without selectors, [`XmlParser`] flattens the whole document: every element with text under
//! its dotted path (`Event.System.Channel`), every attribute under `path.@name`.

use std::borrow::Cow;

use roxmltree::{Document, Node, ParsingOptions, StringStorage};

use crate::fields::{DuplicateKeys, FieldValue, Fields, Position};

/// Caps on a document.
#[derive(Debug, Clone, Copy)]
pub struct XmlLimits {
    /// Largest accepted input, in bytes. Default 1 MiB.
    pub max_size: usize,
    /// Deepest accepted element nesting (the root element is depth 1). Default 64.
    pub max_depth: usize,
    /// Most nodes (elements, attributes' owners, text, comments). Default 100,000.
    pub max_nodes: u32,
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits {
            max_size: 1 << 20,
            max_depth: 64,
            max_nodes: 100_000,
        }
    }
}

/// One output field: its name and the selector that fills it.
#[derive(Debug, Clone)]
pub struct XmlField {
    /// The field name.
    pub name: String,
    /// The selector, e.g. `//Data[@Name='IpAddress']`.
    pub path: String,
}

/// XML parser settings.
#[derive(Debug, Clone, Default)]
pub struct XmlOptions {
    /// Document caps.
    pub limits: XmlLimits,
    /// The fields to select. Empty: flatten the whole document.
    pub fields: Vec<XmlField>,
}

/// What was wrong with an XML record or a selector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The input is larger than [`XmlLimits::max_size`].
    #[error("input of {size} bytes is larger than the limit of {max}")]
    TooLarge {
        /// Input size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Nesting deeper than [`XmlLimits::max_depth`].
    #[error("elements nested deeper than {max} at {at}")]
    TooDeep {
        /// The limit.
        max: usize,
        /// Where the element that is too deep starts.
        at: Position,
    },
    /// Not well-formed XML, or over the node limit.
    #[error("invalid XML at {at}: {reason}")]
    Syntax {
        /// Where the problem is (line and column from the XML reader).
        at: Position,
        /// The reader's message.
        reason: String,
    },
    /// A selector that cannot be parsed.
    #[error("bad selector {path:?} at character {offset}: {reason}")]
    BadSelector {
        /// The selector.
        path: String,
        /// Where in the selector.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Parses `text` under `limits`.
pub(crate) fn read_document<'i>(
    text: &'i str,
    limits: &XmlLimits,
) -> Result<Document<'i>, XmlError> {
    if text.len() > limits.max_size {
        return Err(XmlError::TooLarge {
            size: text.len(),
            max: limits.max_size,
        });
    }
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: limits.max_nodes,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, opts).map_err(|e| {
        let p = e.pos();
        XmlError::Syntax {
            at: position_of(text, p.row as usize, p.col as usize),
            reason: e.to_string(),
        }
    })?;
    // Parents come before children in document order: one pass, depth per node id.
    let mut depth: Vec<u32> = Vec::new();
    for n in doc.root().descendants() {
        let id = n.id().get_usize();
        if depth.len() <= id {
            depth.resize(id + 1, 0);
        }
        let parent = n
            .parent()
            .map_or(0, |p| depth.get(p.id().get_usize()).copied().unwrap_or(0));
        let d = if n.is_element() { parent + 1 } else { parent };
        depth[id] = d;
        if d as usize > limits.max_depth {
            return Err(XmlError::TooDeep {
                max: limits.max_depth,
                at: Position::at(text.as_bytes(), n.range().start),
            });
        }
    }
    Ok(doc)
}

fn position_of(text: &str, line: usize, column: usize) -> Position {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            offset += l
                .char_indices()
                .nth(column.saturating_sub(1))
                .map_or(l.len(), |(o, _)| o);
            break;
        }
        offset += l.len();
    }
    Position {
        offset: offset.min(text.len()),
        line,
        column,
    }
}

/// The text of a storage, borrowed from the input when roxmltree borrowed it.
pub(crate) fn storage<'i>(s: &StringStorage<'i>) -> Cow<'i, str> {
    match s {
        StringStorage::Borrowed(b) => Cow::Borrowed(b),
        StringStorage::Owned(o) => Cow::Owned(o.to_string()),
    }
}

/// The string value of an element: its text when it has one text child (borrowed), else all
/// descendant text concatenated.
pub(crate) fn text_of<'i>(n: Node<'_, 'i>) -> Cow<'i, str> {
    let mut children = n.children();
    match (children.next(), children.next()) {
        (None, _) => Cow::Borrowed(""),
        (Some(c), None) if c.is_text() => c.text_storage().map_or(Cow::Borrowed(""), storage),
        _ => Cow::Owned(
            n.descendants()
                .filter(|d| d.is_text())
                .filter_map(|d| d.text())
                .collect(),
        ),
    }
}

/// The value of attribute `name` (local name) of `n`.
pub(crate) fn attr_of<'i>(n: Node<'_, 'i>, name: &str) -> Option<Cow<'i, str>> {
    n.attributes()
        .find(|a| a.name() == name)
        .map(|a| storage(a.value_storage()))
}

#[derive(Debug, Clone, PartialEq)]
enum Predicate {
    /// `[@a]` or `[@a='v']`.
    Attr(String, Option<String>),
    /// `[child='v']`.
    Child(String, String),
    /// `[n]`, 1-based.
    Index(usize),
}

#[derive(Debug, Clone, PartialEq)]
struct Step {
    descendant: bool,
    /// Local name, `None` for `*`.
    name: Option<String>,
    predicates: Vec<Predicate>,
}

#[derive(Debug, Clone, PartialEq)]
enum Target {
    Text,
    Attr(String),
}

/// A compiled XPath-like selector (see the module doc for the syntax).
#[derive(Debug, Clone, PartialEq)]
pub struct XPath {
    steps: Vec<Step>,
    target: Target,
}

struct SelParser<'p> {
    s: &'p str,
    pos: usize,
}

impl SelParser<'_> {
    fn err(&self, reason: &'static str) -> XmlError {
        XmlError::BadSelector {
            path: self.s.to_string(),
            offset: self.pos,
            reason,
        }
    }
    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }
    fn eat(&mut self, t: &str) -> bool {
        if self.rest().starts_with(t) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }
    fn name(&mut self) -> Result<String, XmlError> {
        let n = self
            .rest()
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
            .unwrap_or(self.rest().len());
        if n == 0 {
            return Err(self.err("expected a name"));
        }
        let name = self.rest()[..n].to_string();
        self.pos += n;
        // Ignore a namespace prefix.
        Ok(name.rsplit(':').next().unwrap_or(&name).to_string())
    }
    fn quoted(&mut self) -> Result<String, XmlError> {
        let q = match self.rest().chars().next() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(self.err("expected a quoted value")),
        };
        self.pos += 1;
        let Some(end) = self.rest().find(q) else {
            return Err(self.err("unterminated quoted value"));
        };
        let v = self.rest()[..end].to_string();
        self.pos += end + 1;
        Ok(v)
    }
    fn predicate(&mut self) -> Result<Predicate, XmlError> {
        let p = if self.eat("@") {
            let name = self.name()?;
            if self.eat("=") {
                Predicate::Attr(name, Some(self.quoted()?))
            } else {
                Predicate::Attr(name, None)
            }
        } else if self.rest().starts_with(|c: char| c.is_ascii_digit()) {
            let n = self
                .rest()
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(self.rest().len());
            let v: usize = self.rest()[..n]
                .parse()
                .map_err(|_| self.err("bad index"))?;
            if v == 0 {
                return Err(self.err("indexes start at 1"));
            }
            self.pos += n;
            Predicate::Index(v)
        } else {
            let name = self.name()?;
            if !self.eat("=") {
                return Err(self.err("expected '='"));
            }
            Predicate::Child(name, self.quoted()?)
        };
        if !self.eat("]") {
            return Err(self.err("expected ']'"));
        }
        Ok(p)
    }
}

impl XPath {
    /// Compiles a selector.
    pub fn parse(path: &str) -> Result<XPath, XmlError> {
        let mut p = SelParser {
            s: path.trim(),
            pos: 0,
        };
        let mut steps = Vec::new();
        let mut target = Target::Text;
        if !p.rest().starts_with('/') {
            return Err(p.err("a selector starts with '/' or '//'"));
        }
        while !p.rest().is_empty() {
            let descendant = if p.eat("//") {
                true
            } else if p.eat("/") {
                false
            } else {
                return Err(p.err("expected '/'"));
            };
            if p.eat("@") {
                target = Target::Attr(p.name()?);
                if !p.rest().is_empty() || descendant || steps.is_empty() {
                    return Err(p.err("an attribute is the last step, after an element"));
                }
                break;
            }
            if p.eat("text()") {
                if !p.rest().is_empty() || descendant || steps.is_empty() {
                    return Err(p.err("text() is the last step, after an element"));
                }
                break;
            }
            let name = if p.eat("*") { None } else { Some(p.name()?) };
            let mut predicates = Vec::new();
            while p.eat("[") {
                predicates.push(p.predicate()?);
            }
            steps.push(Step {
                descendant,
                name,
                predicates,
            });
        }
        if steps.is_empty() {
            return Err(p.err("no element step"));
        }
        Ok(XPath { steps, target })
    }

    /// The matching nodes, in document order.
    fn nodes<'a, 'i>(&self, doc: &'a Document<'i>) -> Vec<Node<'a, 'i>> {
        let mut ctx = vec![doc.root()];
        for step in &self.steps {
            let mut next: Vec<Node<'a, 'i>> = Vec::new();
            for c in &ctx {
                let candidates: Vec<Node<'a, 'i>> = if step.descendant {
                    c.descendants()
                        .skip(1)
                        .filter(|n| n.is_element() && name_ok(step, *n))
                        .collect()
                } else {
                    c.children()
                        .filter(|n| n.is_element() && name_ok(step, *n))
                        .collect()
                };
                let mut kept = candidates;
                for pred in &step.predicates {
                    kept = match pred {
                        Predicate::Index(i) => kept.get(i - 1).copied().into_iter().collect(),
                        Predicate::Attr(a, v) => kept
                            .into_iter()
                            .filter(|n| match (attr_of(*n, a), v) {
                                (Some(_), None) => true,
                                (Some(x), Some(v)) => x == v.as_str(),
                                (None, _) => false,
                            })
                            .collect(),
                        Predicate::Child(name, v) => kept
                            .into_iter()
                            .filter(|n| {
                                n.children().any(|ch| {
                                    ch.is_element()
                                        && ch.tag_name().name() == name
                                        && text_of(ch) == v.as_str()
                                })
                            })
                            .collect(),
                    };
                }
                next.extend(kept);
            }
            if step.descendant && ctx.len() > 1 {
                next.sort_by_key(|n| n.id().get());
                next.dedup_by_key(|n| n.id().get());
            }
            ctx = next;
            if ctx.is_empty() {
                break;
            }
        }
        ctx
    }

    /// The selected values, in document order: element text or attribute values.
    pub fn select<'i>(&self, doc: &Document<'i>) -> Vec<Cow<'i, str>> {
        let nodes = self.nodes(doc);
        match &self.target {
            Target::Text => nodes.into_iter().map(text_of).collect(),
            Target::Attr(a) => nodes.into_iter().filter_map(|n| attr_of(n, a)).collect(),
        }
    }
}

fn name_ok(step: &Step, n: Node<'_, '_>) -> bool {
    step.name
        .as_deref()
        .is_none_or(|name| n.tag_name().name() == name)
}

/// A compiled set of selectors. Build once per source; [`XmlParser::parse`] per record.
#[derive(Debug, Clone)]
pub struct XmlParser {
    limits: XmlLimits,
    fields: Vec<(String, XPath)>,
}

impl XmlParser {
    /// Compiles every selector; the first bad one is the error.
    pub fn new(opts: &XmlOptions) -> Result<XmlParser, XmlError> {
        let fields = opts
            .fields
            .iter()
            .map(|f| Ok((f.name.clone(), XPath::parse(&f.path)?)))
            .collect::<Result<_, XmlError>>()?;
        Ok(XmlParser {
            limits: opts.limits,
            fields,
        })
    }

    /// Parses one document and returns the selected fields (or, with no selectors, all of
    /// it flattened). Invalid UTF-8 is replaced by U+FFFD.
    pub fn parse<'a>(&'a self, input: &'a [u8]) -> Result<Fields<'a>, XmlError> {
        if input.len() > self.limits.max_size {
            return Err(XmlError::TooLarge {
                size: input.len(),
                max: self.limits.max_size,
            });
        }
        match std::str::from_utf8(input) {
            Ok(s) => self.parse_str(s),
            Err(_) => {
                let s = String::from_utf8_lossy(input);
                self.parse_str(&s).map(Fields::into_owned)
            }
        }
    }

    /// [`XmlParser::parse`] on text.
    pub fn parse_str<'a>(&'a self, input: &'a str) -> Result<Fields<'a>, XmlError> {
        let doc = read_document(input, &self.limits)?;
        if self.fields.is_empty() {
            return Ok(flatten(&doc));
        }
        let mut out = Fields::with_capacity(self.fields.len());
        for (name, path) in &self.fields {
            let mut values = path.select(&doc);
            match values.len() {
                0 => {}
                1 => out.push(name.as_str(), FieldValue::Str(values.remove(0))),
                _ => out.push(
                    name.as_str(),
                    FieldValue::List(values.into_iter().map(FieldValue::Str).collect()),
                ),
            }
        }
        Ok(out)
    }
}

/// Every element with non-blank text under its dotted path, every attribute under
/// `path.@name`; repeated paths become lists.
fn flatten<'i>(doc: &Document<'i>) -> Fields<'i> {
    let mut out = Fields::new();
    let mut buf = String::new();
    flatten_into(doc.root_element(), &mut buf, &mut out);
    out
}

/// Recursion is bounded by [`XmlLimits::max_depth`], checked when the document was read.
fn flatten_into<'i>(n: Node<'_, 'i>, buf: &mut String, out: &mut Fields<'i>) {
    let len = buf.len();
    if !buf.is_empty() {
        buf.push('.');
    }
    buf.push_str(n.tag_name().name());
    for a in n.attributes() {
        out.insert(
            format!("{buf}.@{}", a.name()),
            FieldValue::Str(storage(a.value_storage())),
            DuplicateKeys::List,
        );
    }
    let mut own_text = n.children().filter(|c| c.is_text());
    let v = match (own_text.next(), own_text.next()) {
        (None, _) => Cow::Borrowed(""),
        (Some(t), None) => t.text_storage().map_or(Cow::Borrowed(""), storage),
        _ => Cow::Owned(
            n.children()
                .filter(|c| c.is_text())
                .filter_map(|t| t.text())
                .collect(),
        ),
    };
    if !v.trim().is_empty() {
        out.insert(buf.clone(), FieldValue::Str(v), DuplicateKeys::List);
    }
    for c in n.children().filter(Node::is_element) {
        flatten_into(c, buf, out);
    }
    buf.truncate(len);
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">
<System><Provider Name="Microsoft-Windows-Security-Auditing"/><EventID>4625</EventID>
<Channel>Security</Channel></System>
<EventData><Data Name="TargetUserName">bob</Data><Data Name="IpAddress">10.0.0.5</Data>
<Data Name="Empty"></Data></EventData></Event>"#;

    fn select(path: &str) -> Vec<String> {
        let doc = read_document(DOC, &XmlLimits::default()).unwrap();
        XPath::parse(path)
            .unwrap()
            .select(&doc)
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    #[test]
    fn xpath_selection() {
        assert_eq!(select("/Event/System/EventID"), ["4625"]);
        assert_eq!(select("//Data[@Name='TargetUserName']"), ["bob"]);
        assert_eq!(select("//Data[@Name=\"IpAddress\"]/text()"), ["10.0.0.5"]);
        assert_eq!(
            select("/Event/System/Provider/@Name"),
            ["Microsoft-Windows-Security-Auditing"]
        );
        assert_eq!(
            select("//Data/@Name"),
            ["TargetUserName", "IpAddress", "Empty"]
        );
        assert_eq!(select("//Data[2]"), ["10.0.0.5"]);
        assert_eq!(select("/*/System[Channel='Security']/EventID"), ["4625"]);
        assert_eq!(select("//e:Data[@Name='Empty']"), [""]);
        assert!(select("/Event/Nope").is_empty());
        assert!(select("//System//Channel").len() == 1);
    }

    #[test]
    fn xpath_bad_selectors() {
        for bad in [
            "Event",
            "/",
            "/Event/@",
            "/Event[",
            "/Event[@a='x",
            "/Event[0]",
            "//@a",
        ] {
            assert!(XPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn xml_parser_fields_and_flatten() {
        let p = XmlParser::new(&XmlOptions {
            fields: vec![
                XmlField {
                    name: "user".into(),
                    path: "//Data[@Name='TargetUserName']".into(),
                },
                XmlField {
                    name: "names".into(),
                    path: "//Data/@Name".into(),
                },
            ],
            ..XmlOptions::default()
        })
        .unwrap();
        let f = p.parse(DOC.as_bytes()).unwrap();
        assert_eq!(f.get_str("user"), Some("bob"));
        assert!(matches!(
            f.get("user"),
            Some(FieldValue::Str(Cow::Borrowed(_)))
        ));
        assert!(matches!(f.get("names"), Some(FieldValue::List(l)) if l.len() == 3));

        let all = XmlParser::new(&XmlOptions::default()).unwrap();
        let f = all.parse(DOC.as_bytes()).unwrap();
        assert_eq!(f.get_str("Event.System.EventID"), Some("4625"));
        assert_eq!(
            f.get_str("Event.System.Provider.@Name"),
            Some("Microsoft-Windows-Security-Auditing")
        );
        assert!(matches!(f.get("Event.EventData.Data"), Some(FieldValue::List(l)) if l.len() == 2));
    }

    #[test]
    fn xml_limits() {
        let limits = XmlLimits {
            max_depth: 3,
            ..XmlLimits::default()
        };
        assert!(read_document("<a><b><c/></b></a>", &limits).is_ok());
        assert!(matches!(
            read_document("<a><b><c><d/></c></b></a>", &limits),
            Err(XmlError::TooDeep { max: 3, .. })
        ));
        let deep = "<a>".repeat(200_000);
        assert!(read_document(&deep, &XmlLimits::default()).is_err());
        let limits = XmlLimits {
            max_nodes: 3,
            ..XmlLimits::default()
        };
        assert!(read_document("<a><b/><b/><b/><b/></a>", &limits).is_err());
        let e = read_document("<a>\n<b></a>", &XmlLimits::default()).unwrap_err();
        assert!(
            matches!(e, XmlError::Syntax { at, .. } if at.line == 2),
            "{e}"
        );
        assert!(
            read_document(
                "<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>",
                &XmlLimits::default()
            )
            .is_err()
        );
    }
}
