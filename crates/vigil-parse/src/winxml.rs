//! Windows event XML, as a Windows Event Collector forwards it (and as `wevtutil qe /f:xml`,
//! `Get-WinEvent | ToXml()` and evtx renderers print it):
//!
//! ```xml
//! <Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">
//!   <System><Provider Name="Microsoft-Windows-Security-Auditing" Guid="{...}"/>
//!     <EventID>4625</EventID><TimeCreated SystemTime="2024-05-01T10:00:00.000Z"/>
//!     <Computer>dc01</Computer><Channel>Security</Channel>...</System>
//!   <EventData><Data Name="TargetUserName">bob</Data>...</EventData>
//!   <RenderingInfo Culture="en-US"><Message>An account failed to log on...</Message>...</RenderingInfo>
//! </Event>
//! ```
//!
//! **Flat names**, the ones Sigma rules, Chainsaw and Hayabusa use (evtx_dump's JSON with
//! attributes folded in):
//! * `System` children by name (`EventID`, `Channel`, `Computer`, `Level`, ...) and their
//!   attributes as `Element_Attribute` (`Provider_Name`, `TimeCreated_SystemTime`,
//!   `Execution_ProcessID`, `Security_UserID`, `EventID_Qualifiers`, ...). The numeric ones
//!   (`EventID`, `Version`, `Level`, `Task`, `Opcode`, `EventRecordID`, `EventID_Qualifiers`,
//!   `Execution_ProcessID`, `Execution_ThreadID`) are [`FieldValue::Int`].
//! * `EventData`: `<Data Name="X">` as `X`; unnamed `<Data>` as `Data_1`, `Data_2`, ...;
//!   other children (`Binary`) by name.
//! * `UserData`: the leaf elements of its one child by name (`SubjectUserName` of
//!   `LogFileCleared`), their attributes as `Leaf_Attribute`.
//! * `RenderingInfo`: `Message`, and `RenderingInfo_Level`, `_Task`, `_Opcode`, `_Channel`,
//!   `_Provider`, `_Culture`, `_Keywords` (a list).
//!
//! **Paths**, with [`WinXmlOptions::paths`], after the flat fields: the same values under
//! evtx_dump/Chainsaw paths: `Event.System.EventID`, `Event.System.Provider_attributes.Name`,
//! `Event.EventData.TargetUserName`, `Event.EventData.Data` (a list of the unnamed ones),
//! `Event.UserData.LogFileCleared.SubjectUserName`, `Event.RenderingInfo.Message`.
//!
//! Text that is only blanks around a line break is pretty-printing, read as empty; other
//! blanks are data (`LogonProcessName` is `"Advapi  "`). Elements with neither text nor
//! attributes are [`FieldValue::Null`] (`Security`, `Binary`), as evtx_dump writes them; an
//! empty `Data` is the empty string.

use std::borrow::Cow;

use roxmltree::Node;

use crate::fields::{FieldValue, Fields};
use crate::xml::{XmlError, XmlLimits, read_document, storage, text_of};

/// Windows event XML settings.
#[derive(Debug, Clone, Copy)]
pub struct WinXmlOptions {
    /// Document caps.
    pub limits: XmlLimits,
    /// Also emit the `Event.System.*`, `Event.EventData.*` ... paths.
    pub paths: bool,
}

impl Default for WinXmlOptions {
    fn default() -> Self {
        WinXmlOptions {
            limits: XmlLimits::default(),
            paths: true,
        }
    }
}

/// What was wrong with a Windows event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WinXmlError {
    /// Not well-formed or over a limit.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// Well-formed XML whose root is not `Event` (or `Events` for a batch).
    #[error("root element is <{root}>, expected <Event>")]
    NotAnEvent {
        /// The root's name.
        root: String,
    },
    /// An `Event` without a `System` element.
    #[error("event has no <System> element")]
    NoSystem,
}

const INT_FIELDS: [&str; 9] = [
    "EventID",
    "Version",
    "Level",
    "Task",
    "Opcode",
    "EventRecordID",
    "EventID_Qualifiers",
    "Execution_ProcessID",
    "Execution_ThreadID",
];

/// Parses one `<Event>` document.
pub fn parse<'a>(input: &'a [u8], opts: &WinXmlOptions) -> Result<Fields<'a>, WinXmlError> {
    with_doc(input, opts, |s| parse_str(s, opts))
}

/// [`parse`] on text.
pub fn parse_str<'a>(input: &'a str, opts: &WinXmlOptions) -> Result<Fields<'a>, WinXmlError> {
    let doc = read_document(input, &opts.limits)?;
    let root = doc.root_element();
    if root.tag_name().name() != "Event" {
        return Err(WinXmlError::NotAnEvent {
            root: root.tag_name().name().to_string(),
        });
    }
    event(root, opts)
}

/// Parses a batch: an `<Events>` document (or a single `<Event>`) into one result per event.
pub fn parse_batch<'a>(
    input: &'a [u8],
    opts: &WinXmlOptions,
) -> Result<Vec<Result<Fields<'a>, WinXmlError>>, WinXmlError> {
    match std::str::from_utf8(input) {
        Ok(s) => parse_batch_str(s, opts),
        Err(_) => {
            let s = String::from_utf8_lossy(input);
            Ok(parse_batch_str(&s, opts)?
                .into_iter()
                .map(|r| r.map(Fields::into_owned))
                .collect())
        }
    }
}

fn parse_batch_str<'a>(
    input: &'a str,
    opts: &WinXmlOptions,
) -> Result<Vec<Result<Fields<'a>, WinXmlError>>, WinXmlError> {
    let doc = read_document(input, &opts.limits)?;
    let root = doc.root_element();
    match root.tag_name().name() {
        "Event" => Ok(vec![event(root, opts)]),
        "Events" => Ok(root
            .children()
            .filter(|n| n.is_element() && n.tag_name().name() == "Event")
            .map(|n| event(n, opts))
            .collect()),
        other => Err(WinXmlError::NotAnEvent {
            root: other.to_string(),
        }),
    }
}

fn with_doc<'a>(
    input: &'a [u8],
    opts: &WinXmlOptions,
    f: impl for<'s> Fn(&'s str) -> Result<Fields<'s>, WinXmlError>,
) -> Result<Fields<'a>, WinXmlError> {
    if input.len() > opts.limits.max_size {
        return Err(XmlError::TooLarge {
            size: input.len(),
            max: opts.limits.max_size,
        }
        .into());
    }
    match std::str::from_utf8(input) {
        Ok(s) => f(s),
        Err(_) => {
            let s = String::from_utf8_lossy(input);
            f(&s).map(Fields::into_owned)
        }
    }
}

struct Out<'i> {
    flat: Fields<'i>,
    paths: Option<Fields<'i>>,
}

impl<'i> Out<'i> {
    fn put(&mut self, flat: Cow<'i, str>, path: impl FnOnce() -> String, v: FieldValue<'i>) {
        if let Some(p) = &mut self.paths {
            p.push(path(), v.clone());
        }
        self.flat.push(flat, v);
    }
}

/// Element text, with pretty-printing blanks read as empty.
fn value_text<'i>(n: Node<'_, 'i>) -> Cow<'i, str> {
    let t = text_of(n);
    if t.contains('\n') && t.trim().is_empty() {
        Cow::Borrowed("")
    } else {
        t
    }
}

fn has_element_children(n: Node<'_, '_>) -> bool {
    n.children().any(|c| c.is_element())
}

fn typed<'i>(name: &str, text: Cow<'i, str>) -> FieldValue<'i> {
    if INT_FIELDS.contains(&name)
        && let Ok(i) = text.trim().parse::<i64>()
    {
        return FieldValue::Int(i);
    }
    FieldValue::Str(text)
}

fn event<'i>(ev: Node<'_, 'i>, opts: &WinXmlOptions) -> Result<Fields<'i>, WinXmlError> {
    let mut out = Out {
        flat: Fields::with_capacity(48),
        paths: opts.paths.then(|| Fields::with_capacity(48)),
    };
    let mut saw_system = false;
    for section in ev.children().filter(Node::is_element) {
        match section.tag_name().name() {
            "System" => {
                saw_system = true;
                system(section, &mut out);
            }
            "EventData" => event_data(section, &mut out),
            "UserData" => user_data(section, &mut out),
            "RenderingInfo" => rendering_info(section, &mut out),
            _ => {}
        }
    }
    if !saw_system {
        return Err(WinXmlError::NoSystem);
    }
    let mut fields = out.flat;
    if let Some(paths) = out.paths {
        for (k, v) in paths {
            fields.push(k, v);
        }
    }
    Ok(fields)
}

fn system<'i>(sys: Node<'_, 'i>, out: &mut Out<'i>) {
    for el in sys.children().filter(Node::is_element) {
        let name = el.tag_name().name();
        let text = value_text(el);
        let attrs = el.attributes().len();
        if !text.is_empty() || attrs == 0 {
            let v = if text.is_empty() {
                FieldValue::Null
            } else {
                typed(name, text)
            };
            out.put(Cow::Borrowed(name), || format!("Event.System.{name}"), v);
        }
        for a in el.attributes() {
            let flat = format!("{name}_{}", a.name());
            let v = typed(&flat, storage(a.value_storage()));
            out.put(
                Cow::Owned(flat),
                || format!("Event.System.{name}_attributes.{}", a.name()),
                v,
            );
        }
    }
}

fn event_data<'i>(data: Node<'_, 'i>, out: &mut Out<'i>) {
    let mut unnamed = Vec::new();
    for el in data.children().filter(Node::is_element) {
        let tag = el.tag_name().name();
        if tag == "Data" {
            let text = value_text(el);
            match el.attribute("Name") {
                Some(_) => {
                    let name = el
                        .attribute_node("Name")
                        .map(|a| storage(a.value_storage()))
                        .unwrap_or_default();
                    let path = format!("Event.EventData.{name}");
                    out.put(name, || path, FieldValue::Str(text));
                }
                None => {
                    unnamed.push(FieldValue::Str(text.clone()));
                    out.flat
                        .push(format!("Data_{}", unnamed.len()), FieldValue::Str(text));
                }
            }
        } else if has_element_children(el) {
            // ComplexData and the like: leaves by name.
            leaves(el, &format!("Event.EventData.{tag}"), out);
        } else {
            let text = value_text(el);
            let v = if text.is_empty() {
                FieldValue::Null
            } else {
                FieldValue::Str(text)
            };
            out.put(Cow::Borrowed(tag), || format!("Event.EventData.{tag}"), v);
        }
    }
    if let (Some(p), false) = (&mut out.paths, unnamed.is_empty()) {
        p.push("Event.EventData.Data", FieldValue::List(unnamed));
    }
}

fn user_data<'i>(ud: Node<'_, 'i>, out: &mut Out<'i>) {
    for child in ud.children().filter(Node::is_element) {
        let prefix = format!("Event.UserData.{}", child.tag_name().name());
        leaves(child, &prefix, out);
    }
}

/// Every leaf element under `parent` by its name (and path below `prefix`), attributes as
/// `Leaf_Attr`.
fn leaves<'i>(parent: Node<'_, 'i>, prefix: &str, out: &mut Out<'i>) {
    for el in parent.children().filter(Node::is_element) {
        let name = el.tag_name().name();
        let path = format!("{prefix}.{name}");
        if has_element_children(el) {
            leaves(el, &path, out);
            continue;
        }
        let text = value_text(el);
        if !text.is_empty() || el.attributes().len() == 0 {
            let v = if text.is_empty() {
                FieldValue::Null
            } else {
                FieldValue::Str(text)
            };
            out.put(Cow::Borrowed(name), || path.clone(), v);
        }
        for a in el.attributes() {
            out.put(
                Cow::Owned(format!("{name}_{}", a.name())),
                || format!("{path}_attributes.{}", a.name()),
                FieldValue::Str(storage(a.value_storage())),
            );
        }
    }
}

fn rendering_info<'i>(ri: Node<'_, 'i>, out: &mut Out<'i>) {
    if let Some(c) = ri.attribute_node("Culture") {
        out.put(
            Cow::Borrowed("RenderingInfo_Culture"),
            || "Event.RenderingInfo_attributes.Culture".into(),
            FieldValue::Str(storage(c.value_storage())),
        );
    }
    for el in ri.children().filter(Node::is_element) {
        let name = el.tag_name().name();
        let v = if name == "Keywords" {
            FieldValue::List(
                el.children()
                    .filter(|k| k.is_element())
                    .map(|k| FieldValue::Str(value_text(k)))
                    .collect(),
            )
        } else {
            FieldValue::Str(value_text(el))
        };
        let flat = if name == "Message" {
            Cow::Borrowed("Message")
        } else {
            Cow::Owned(format!("RenderingInfo_{name}"))
        };
        out.put(flat, || format!("Event.RenderingInfo.{name}"), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EV: &str = r#"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-A5BA-3E3B0328C30D}'/><EventID>4625</EventID><Version>0</Version><Level>0</Level><Task>12544</Task><Opcode>0</Opcode><Keywords>0x8010000000000000</Keywords><TimeCreated SystemTime='2024-05-01T10:00:00.1234567Z'/><EventRecordID>99</EventRecordID><Correlation/><Execution ProcessID='636' ThreadID='700'/><Channel>Security</Channel><Computer>dc01.corp.local</Computer><Security/></System><EventData><Data Name='TargetUserName'>bob</Data><Data Name='IpAddress'>203.0.113.9</Data><Data Name='LogonProcessName'>User32 </Data><Data Name='Empty'></Data></EventData><RenderingInfo Culture='en-US'><Message>An account failed to log on.</Message><Level>Information</Level><Keywords><Keyword>Audit Failure</Keyword></Keywords></RenderingInfo></Event>"#;

    #[test]
    fn winxml_system_and_event_data() {
        let f = parse(EV.as_bytes(), &WinXmlOptions::default()).unwrap();
        assert_eq!(f.get("EventID"), Some(&FieldValue::Int(4625)));
        assert_eq!(f.get_str("Channel"), Some("Security"));
        assert_eq!(f.get_str("Computer"), Some("dc01.corp.local"));
        assert_eq!(
            f.get_str("Provider_Name"),
            Some("Microsoft-Windows-Security-Auditing")
        );
        assert_eq!(
            f.get_str("TimeCreated_SystemTime"),
            Some("2024-05-01T10:00:00.1234567Z")
        );
        assert_eq!(f.get("Execution_ProcessID"), Some(&FieldValue::Int(636)));
        assert_eq!(f.get("Security"), Some(&FieldValue::Null));
        assert_eq!(f.get_str("TargetUserName"), Some("bob"));
        assert_eq!(f.get_str("LogonProcessName"), Some("User32 "));
        assert_eq!(f.get_str("Empty"), Some(""));
        assert_eq!(f.get_str("Message"), Some("An account failed to log on."));
        assert_eq!(
            f.get("RenderingInfo_Keywords"),
            Some(&FieldValue::List(vec!["Audit Failure".into()]))
        );
        assert_eq!(f.get("Event.System.EventID"), Some(&FieldValue::Int(4625)));
        assert_eq!(
            f.get_str("Event.System.Provider_attributes.Name"),
            Some("Microsoft-Windows-Security-Auditing")
        );
        assert_eq!(f.get_str("Event.EventData.IpAddress"), Some("203.0.113.9"));
        assert!(matches!(
            f.get("TargetUserName"),
            Some(FieldValue::Str(Cow::Borrowed(_)))
        ));
        let no_paths = WinXmlOptions {
            paths: false,
            ..WinXmlOptions::default()
        };
        let g = parse(EV.as_bytes(), &no_paths).unwrap();
        assert!(!g.contains("Event.System.EventID"));
    }

    #[test]
    fn winxml_user_data_and_unnamed_data() {
        let ev = r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><EventID>1102</EventID><Channel>Security</Channel></System><UserData><LogFileCleared xmlns="http://manifests.microsoft.com/win/2004/08/windows/eventlog"><SubjectUserSid>S-1-5-21-1</SubjectUserSid><SubjectUserName>admin</SubjectUserName></LogFileCleared></UserData></Event>"#;
        let f = parse(ev.as_bytes(), &WinXmlOptions::default()).unwrap();
        assert_eq!(f.get_str("SubjectUserName"), Some("admin"));
        assert_eq!(
            f.get_str("Event.UserData.LogFileCleared.SubjectUserSid"),
            Some("S-1-5-21-1")
        );
        let ev = "<Event><System><EventID>6009</EventID></System><EventData><Data>10.00.</Data><Data>\n  </Data><Binary></Binary></EventData></Event>";
        let f = parse(ev.as_bytes(), &WinXmlOptions::default()).unwrap();
        assert_eq!(f.get_str("Data_1"), Some("10.00."));
        assert_eq!(f.get_str("Data_2"), Some(""));
        assert_eq!(f.get("Binary"), Some(&FieldValue::Null));
        assert_eq!(
            f.get("Event.EventData.Data"),
            Some(&FieldValue::List(vec!["10.00.".into(), "".into()]))
        );
    }

    #[test]
    fn winxml_errors_and_batches() {
        assert!(matches!(
            parse(b"<Foo/>", &WinXmlOptions::default()),
            Err(WinXmlError::NotAnEvent { .. })
        ));
        assert!(matches!(
            parse(b"<Event><EventData/></Event>", &WinXmlOptions::default()),
            Err(WinXmlError::NoSystem)
        ));
        assert!(matches!(
            parse(b"<Event><System>", &WinXmlOptions::default()),
            Err(WinXmlError::Xml(XmlError::Syntax { .. }))
        ));
        let batch = format!("<Events>{EV}{EV}<Event/></Events>");
        let r = parse_batch(batch.as_bytes(), &WinXmlOptions::default()).unwrap();
        assert_eq!(r.len(), 3);
        assert!(r[0].is_ok() && r[2].is_err());
    }
}
