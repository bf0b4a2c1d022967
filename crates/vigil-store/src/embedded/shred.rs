//! Events as Parquet columns: which columns a segment has, building them for a row group, and
//! reassembling events from them.
//!
//! Every field of the event registry ([`vigil_event::schema::fields`]) is a column of its own,
//! typed by its kind, so that each compresses with its like (a host name column is a small
//! dictionary, a pid column a few bits per row) instead of inside a row-wise blob:
//!
//! ```text
//! column            Arrow type (nullable)                 holds
//! lsn               UInt64                                the event's LSN
//! @timestamp        Int64                                 ns since the epoch
//! host.name ...     Dictionary(Int32, Utf8) (yes)         the 20 keyword fields (`KEYWORD_FIELDS`:
//!                                                          12 ECS fields, `vigil.type`, `.tenant`,
//!                                                          `.source`, `.collector`, `rule.*`),
//!                                                          display form; the IP ones (`source.ip`,
//!                                                          `destination.ip`) Binary: 4 or 16 bytes
//! event.ingested    Int64                                 receive time, ns
//! _id_time          Int64                                 ULID time (ms) − receive time (ms): 0
//!                                                          unless the id was made apart
//! _id_high          Int32                                 ULID bits 64..80
//! _id_low           Int64                                 ULID bits 0..64 (a counter: delta-coded
//!                                                          to almost nothing)
//! _message_at       Int32 (yes)                           where the message starts in `raw`, when
//!                                                          it is the raw record's tail
//! message           Utf8 (yes)                            the message otherwise
//! raw               Binary                                the raw record, byte for byte
//! <field> ...       by kind (yes): Utf8 (strings),         every other registry field present in
//!                   Binary (IPs: 4 or 16 bytes), List(Utf8), the segment (a segment has only the
//!                   Int64 (integers, times), Float64,      columns of fields some event of it has)
//!                   Boolean
//! _extra, _original Binary (yes)                          postcard of the open maps, when any
//! _bloom            Binary (yes)                          the row group's bloom filter (first row)
//! ```
//! A field not in a segment's columns is unset in all its events. Events are rebuilt by
//! setting each non-null column's value through the registry, so the event read back equals
//! the event written (tested for every field, and by the shared query cases).
//!
//! Segments of format 2 have only the first 12 keyword fields as keyword columns
//! (`KEYWORD_FIELDS_V2`); the other eight are per-segment `Utf8` columns there, and
//! [`upgrade_legacy`] turns them into dictionary columns as they are read, so that everything
//! above the reader sees one shape.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::BuildHasherDefault;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder,
    StringBuilder,
};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, DictionaryArray, Float64Array, Int32Array,
    Int64Array, ListArray, RecordBatch, StringArray, UInt64Array, new_null_array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use vigil_event::{Bytes, Event, FieldDef, FieldId, FieldKind, SmolStr, Timestamp, Ulid, Value};
use vigil_event::{FieldMap, ValueRef};

use super::columns::{ColValue, Columns};
use super::index::{self, BytesHasher, Extractor, HashSet64, KEYWORD_FIELDS};

pub(crate) const LSN: &str = "lsn";
pub(crate) const TS: &str = "@timestamp";
pub(crate) const INGESTED: &str = "event.ingested";
pub(crate) const ID_TIME: &str = "_id_time";
pub(crate) const ID_HIGH: &str = "_id_high";
pub(crate) const ID_LOW: &str = "_id_low";
pub(crate) const MESSAGE_AT: &str = "_message_at";
pub(crate) const MESSAGE: &str = "message";
pub(crate) const RAW: &str = "raw";
pub(crate) const EXTRA: &str = "_extra";
pub(crate) const ORIGINAL: &str = "_original";
pub(crate) const BLOOM: &str = "_bloom";

const KW: usize = KEYWORD_FIELDS.len();

/// Registry fields with a fixed column (not among the per-segment ones).
const FIXED_FIELDS: [&str; 4] = ["@timestamp", "message", "event.ingested", "vigil.event_id"];

/// Whether keyword field `f` holds IP addresses (stored as 4 or 16 bytes, not text).
pub(crate) fn kw_is_ip(f: usize) -> bool {
    static IP: OnceLock<[bool; KW]> = OnceLock::new();
    IP.get_or_init(|| {
        let mut out = [false; KW];
        for (i, n) in KEYWORD_FIELDS.iter().enumerate() {
            out[i] = FieldId::lookup(n).is_some_and(|id| id.def().kind() == FieldKind::Ip);
        }
        out
    })
    .get(f)
    .copied()
    .unwrap_or(false)
}

fn kw_type(f: usize) -> DataType {
    if kw_is_ip(f) {
        DataType::Binary
    } else {
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
    }
}

/// Whether column `name` holds IP addresses (a keyword or a per-segment IP field).
pub(crate) fn is_ip_column(name: &str) -> bool {
    match KEYWORD_FIELDS.iter().position(|k| *k == name) {
        Some(f) => kw_is_ip(f),
        None => {
            matches!(Dyn::by_name(name), Some(Dyn::Field(i)) if dyn_fields()[i].repr == Repr::Ip)
        }
    }
}

/// An IP address as stored: 4 bytes (IPv4) or 16 (IPv6, IPv4-mapped ones included).
pub(crate) fn ip_bytes(ip: IpAddr, f: &mut impl FnMut(&[u8])) {
    match ip {
        IpAddr::V4(a) => f(&a.octets()),
        IpAddr::V6(a) => f(&a.octets()),
    }
}

/// The IP address of stored bytes.
pub(crate) fn ip_of(b: &[u8]) -> Option<IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        Some(IpAddr::from(a))
    } else {
        <[u8; 16]>::try_from(b).ok().map(IpAddr::from)
    }
}

/// The columns every segment with the first `keywords` keyword fields as keyword columns has
/// (all of them but in segments of format 2), in file order (`_bloom` comes last, after the
/// per-segment columns).
fn fixed_fields(keywords: usize) -> Vec<Field> {
    let mut f = vec![
        Field::new(LSN, DataType::UInt64, false),
        Field::new(TS, DataType::Int64, false),
    ];
    f.extend(
        KEYWORD_FIELDS
            .iter()
            .take(keywords)
            .enumerate()
            .map(|(i, k)| Field::new(*k, kw_type(i), true)),
    );
    f.extend([
        Field::new(INGESTED, DataType::Int64, false),
        Field::new(ID_TIME, DataType::Int64, false),
        Field::new(ID_HIGH, DataType::Int32, false),
        Field::new(ID_LOW, DataType::Int64, false),
        Field::new(MESSAGE_AT, DataType::Int32, true),
        Field::new(MESSAGE, DataType::Utf8, true),
        Field::new(RAW, DataType::Binary, false),
    ]);
    f
}

/// The fixed columns a [`FieldsBuilder`] makes (all but `lsn`, the keywords and `raw`).
fn fields_fixed() -> Vec<Field> {
    vec![
        Field::new(TS, DataType::Int64, false),
        Field::new(INGESTED, DataType::Int64, false),
        Field::new(ID_TIME, DataType::Int64, false),
        Field::new(ID_HIGH, DataType::Int32, false),
        Field::new(ID_LOW, DataType::Int64, false),
        Field::new(MESSAGE_AT, DataType::Int32, true),
        Field::new(MESSAGE, DataType::Utf8, true),
    ]
}

/// How a registry field is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repr {
    Str,
    List,
    Int,
    Float,
    Bool,
    Ip,
    Time,
}

impl Repr {
    fn of(kind: FieldKind) -> Repr {
        match kind {
            FieldKind::Str => Repr::Str,
            FieldKind::StrList => Repr::List,
            FieldKind::Int => Repr::Int,
            FieldKind::Float => Repr::Float,
            FieldKind::Bool => Repr::Bool,
            FieldKind::Ip => Repr::Ip,
            FieldKind::Time => Repr::Time,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Repr::Str => DataType::Utf8,
            Repr::Ip => DataType::Binary,
            Repr::List => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            Repr::Int | Repr::Time => DataType::Int64,
            Repr::Float => DataType::Float64,
            Repr::Bool => DataType::Boolean,
        }
    }
}

/// A registry field stored in a per-segment column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DynField {
    pub def: &'static FieldDef,
    pub repr: Repr,
    /// The struct of the event it lives in (by its name's prefix): an event with that struct
    /// empty has none of its fields, so they are not visited.
    group: Group,
}

/// The structs of an event that hold registry fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Event,
    Source,
    Destination,
    User,
    Host,
    Process,
    Network,
    Observer,
    Rule,
    Log,
    Web,
    /// Visited for every event (metadata, tags, names without a known prefix).
    Always,
}

const GROUPS: usize = 12;

impl Group {
    fn of(name: &str) -> Group {
        let prefix = name.split('.').next().unwrap_or("");
        match prefix {
            "event" => Group::Event,
            "source" => Group::Source,
            "destination" => Group::Destination,
            "user" => Group::User,
            "host" => Group::Host,
            "process" => Group::Process,
            "network" => Group::Network,
            "observer" => Group::Observer,
            "rule" => Group::Rule,
            "log" => Group::Log,
            "url" | "http" | "user_agent" => Group::Web,
            _ => Group::Always,
        }
    }

    /// Which groups `ev` has something in (`Always` always).
    fn present(ev: &Event) -> [bool; GROUPS] {
        static BLANK: OnceLock<Event> = OnceLock::new();
        let b = BLANK.get_or_init(Event::default);
        [
            ev.event != b.event,
            ev.source != b.source,
            ev.destination != b.destination,
            ev.user != b.user,
            ev.host != b.host,
            ev.process != b.process,
            ev.network != b.network,
            ev.observer != b.observer,
            ev.rule != b.rule,
            ev.log != b.log,
            ev.web != b.web,
            true,
        ]
    }
}

/// The registry fields without a fixed column, in registry order.
pub(crate) fn dyn_fields() -> &'static [DynField] {
    static F: OnceLock<Vec<DynField>> = OnceLock::new();
    F.get_or_init(|| {
        vigil_event::schema::fields()
            .iter()
            .filter(|d| !FIXED_FIELDS.contains(&d.name) && !KEYWORD_FIELDS.contains(&d.name))
            .map(|def| DynField {
                def,
                repr: Repr::of(def.kind()),
                group: Group::of(def.name),
            })
            .collect()
    })
}

/// A per-segment column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Dyn {
    /// `dyn_fields()[i]`.
    Field(usize),
    Extra,
    Original,
}

impl Dyn {
    fn name(self) -> &'static str {
        match self {
            Dyn::Field(i) => dyn_fields()[i].def.name,
            Dyn::Extra => EXTRA,
            Dyn::Original => ORIGINAL,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Dyn::Field(i) => dyn_fields()[i].repr.data_type(),
            Dyn::Extra | Dyn::Original => DataType::Binary,
        }
    }

    /// The per-segment column named `name`.
    fn by_name(name: &str) -> Option<Dyn> {
        static BY_NAME: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
        match name {
            EXTRA => Some(Dyn::Extra),
            ORIGINAL => Some(Dyn::Original),
            _ => BY_NAME
                .get_or_init(|| {
                    dyn_fields()
                        .iter()
                        .enumerate()
                        .map(|(i, f)| (f.def.name, i))
                        .collect()
                })
                .get(name)
                .map(|&i| Dyn::Field(i)),
        }
    }

    const COUNT_EXTRA: usize = 2;

    fn of_slot(slot: usize) -> Dyn {
        match slot.checked_sub(dyn_fields().len()) {
            None => Dyn::Field(slot),
            Some(0) => Dyn::Extra,
            Some(_) => Dyn::Original,
        }
    }

    fn slot(self) -> usize {
        match self {
            Dyn::Field(i) => i,
            Dyn::Extra => dyn_fields().len(),
            Dyn::Original => dyn_fields().len() + 1,
        }
    }
}

/// The per-segment columns of a segment, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    pub dyns: Vec<Dyn>,
}

impl Layout {
    /// The per-segment columns of `batch` (columns it has that are not fixed).
    pub(crate) fn of_schema(schema: &Schema) -> Layout {
        let mut dyns: Vec<Dyn> = schema
            .fields()
            .iter()
            .filter_map(|f| Dyn::by_name(f.name()))
            .collect();
        dyns.sort_unstable();
        dyns.dedup();
        Layout { dyns }
    }

    /// Adds the columns of `other`.
    pub(crate) fn merge(&mut self, other: &Layout) {
        self.dyns.extend(&other.dyns);
        self.dyns.sort_unstable();
        self.dyns.dedup();
    }

    /// The file schema: fixed columns, per-segment columns, `_bloom`.
    pub(crate) fn schema(&self) -> SchemaRef {
        let mut f = fixed_fields(KW);
        f.extend(
            self.dyns
                .iter()
                .map(|d| Field::new(d.name(), d.data_type(), true)),
        );
        f.push(Field::new(BLOOM, DataType::Binary, true));
        Arc::new(Schema::new(f))
    }
}

/// Checks the Arrow schema of a segment with the first `keywords` keyword fields as keyword
/// columns: every fixed column with its type, every other column a known per-segment column
/// with its type (in a segment of format 2, the later keyword fields are text columns).
/// Returns its layout.
pub(crate) fn check_schema(schema: &Schema, keywords: usize) -> Result<Layout, String> {
    let mut want = fixed_fields(keywords);
    want.push(Field::new(BLOOM, DataType::Binary, true));
    for w in &want {
        match schema.field_with_name(w.name()) {
            Ok(f) if f.data_type() == w.data_type() => {}
            Ok(f) => {
                return Err(format!(
                    "column {} is {}, expected {}",
                    w.name(),
                    f.data_type(),
                    w.data_type()
                ));
            }
            Err(_) => return Err(format!("column {} missing", w.name())),
        }
    }
    for f in schema.fields() {
        if want.iter().any(|w| w.name() == f.name()) {
            continue;
        }
        if let Some(k) = KEYWORD_FIELDS.iter().position(|k| k == f.name())
            && k >= keywords
        {
            if f.data_type() != &DataType::Utf8 || kw_is_ip(k) {
                return Err(format!("column {} is {}", f.name(), f.data_type()));
            }
            continue;
        }
        let d = Dyn::by_name(f.name()).ok_or_else(|| format!("unexpected column {}", f.name()))?;
        // a list's item field may be named differently by other writers: compare the shape
        let same = match (&d.data_type(), f.data_type()) {
            (DataType::List(a), DataType::List(b)) => a.data_type() == b.data_type(),
            (a, b) => a == b,
        };
        if !same {
            return Err(format!("column {} is {}", f.name(), f.data_type()));
        }
    }
    Ok(Layout::of_schema(schema))
}

/// `batch` (columns of a segment with the first `keywords` keyword fields as keyword columns)
/// with the later keyword fields' text columns as dictionary columns, as this format stores
/// them. Segments of the current format are returned as they are.
pub(crate) fn upgrade_legacy(batch: RecordBatch, keywords: usize) -> Result<RecordBatch, String> {
    if keywords >= KW {
        return Ok(batch);
    }
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut cols = Vec::with_capacity(schema.fields().len());
    for (f, a) in schema.fields().iter().zip(batch.columns()) {
        let legacy = KEYWORD_FIELDS
            .iter()
            .position(|k| k == f.name())
            .filter(|&k| k >= keywords);
        match legacy {
            Some(k) if a.data_type() == &DataType::Utf8 => {
                let text = downcast::<StringArray>(a, f.name())?;
                let mut kw = KwBuilder::new(k);
                for i in 0..text.len() {
                    let key = text.is_valid(i).then(|| kw.intern(text.value(i)));
                    kw.keys.append_option(key);
                }
                fields.push(Field::new(f.name(), kw_type(k), true));
                cols.push(kw.finish()?);
            }
            _ => {
                fields.push(f.as_ref().clone());
                cols.push(a.clone());
            }
        }
    }
    let opts = arrow_array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), cols, &opts)
        .map_err(|e| e.to_string())
}

/// An event with nothing set: what a row is rebuilt from.
fn blank() -> Event {
    let mut ev = Event::default();
    ev.meta.tenant = SmolStr::default();
    ev
}

// ---------------------------------------------------------------------------------------------
// Writing.

/// A keyword column being built: text values interned per row group (a dictionary column),
/// or IP addresses as bytes (`ips`, for the IP fields).
#[derive(Debug, Default)]
struct KwBuilder {
    keys: Int32Builder,
    values: StringBuilder,
    index: HashMap<Box<str>, i32, BuildHasherDefault<BytesHasher>>,
    ips: Option<BinaryBuilder>,
}

impl KwBuilder {
    fn new(f: usize) -> KwBuilder {
        KwBuilder {
            ips: kw_is_ip(f).then(BinaryBuilder::new),
            ..KwBuilder::default()
        }
    }

    fn push_ip(&mut self, ip: Option<IpAddr>) {
        if let Some(b) = &mut self.ips {
            match ip {
                Some(ip) => ip_bytes(ip, &mut |x| b.append_value(x)),
                None => b.append_null(),
            }
        }
    }

    fn intern(&mut self, s: &str) -> i32 {
        if let Some(&k) = self.index.get(s) {
            return k;
        }
        let k = self.index.len() as i32;
        self.values.append_value(s);
        self.index.insert(s.into(), k);
        k
    }

    fn finish(&mut self) -> Result<ArrayRef, String> {
        if let Some(b) = &mut self.ips {
            return Ok(Arc::new(b.finish()));
        }
        self.index.clear();
        let d = DictionaryArray::<Int32Type>::try_new(
            self.keys.finish(),
            Arc::new(self.values.finish()),
        )
        .map_err(|e| e.to_string())?;
        Ok(Arc::new(d))
    }
}

/// A per-segment column being built; `rows` counts the rows it covers (values and nulls).
#[derive(Debug)]
struct DynCol {
    b: DynBuilder,
    rows: usize,
}

#[derive(Debug)]
enum DynBuilder {
    Str(StringBuilder),
    List(ListBuilder<StringBuilder>),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Bin(BinaryBuilder),
}

impl DynCol {
    fn new(d: Dyn) -> DynCol {
        let b = match d {
            Dyn::Extra | Dyn::Original => DynBuilder::Bin(BinaryBuilder::new()),
            Dyn::Field(i) => match dyn_fields()[i].repr {
                Repr::Str => DynBuilder::Str(StringBuilder::new()),
                Repr::Ip => DynBuilder::Bin(BinaryBuilder::new()),
                Repr::List => DynBuilder::List(ListBuilder::new(StringBuilder::new())),
                Repr::Int | Repr::Time => DynBuilder::Int(Int64Builder::new()),
                Repr::Float => DynBuilder::Float(Float64Builder::new()),
                Repr::Bool => DynBuilder::Bool(BooleanBuilder::new()),
            },
        };
        DynCol { b, rows: 0 }
    }

    /// Nulls up to row `n` (exclusive).
    fn pad(&mut self, n: usize) {
        let k = n.saturating_sub(self.rows);
        if k == 0 {
            return;
        }
        match &mut self.b {
            DynBuilder::Str(b) => b.append_nulls(k),
            DynBuilder::List(b) => (0..k).for_each(|_| b.append_null()),
            DynBuilder::Int(b) => b.append_nulls(k),
            DynBuilder::Float(b) => b.append_nulls(k),
            DynBuilder::Bool(b) => b.append_nulls(k),
            DynBuilder::Bin(b) => b.append_nulls(k),
        }
        self.rows = n;
    }

    /// Bytes of what the builder holds (contents, not spare capacity, for the byte ones).
    fn mem_bytes(&self) -> usize {
        let validity = self.rows.div_ceil(8);
        validity
            + match &self.b {
                DynBuilder::Str(b) => b.offsets_slice().len() * 4 + b.values_slice().len(),
                DynBuilder::Bin(b) => b.offsets_slice().len() * 4 + b.values_slice().len(),
                DynBuilder::List(b) => {
                    let items = b.values_ref();
                    b.offsets_slice().len() * 4
                        + items.offsets_slice().len() * 4
                        + items.values_slice().len()
                        + items.offsets_slice().len().div_ceil(8)
                }
                DynBuilder::Int(b) => b.capacity() * 8,
                DynBuilder::Float(b) => b.capacity() * 8,
                DynBuilder::Bool(b) => b.capacity().div_ceil(8),
            }
    }

    fn finish(&mut self) -> ArrayRef {
        match &mut self.b {
            DynBuilder::Str(b) => Arc::new(b.finish()),
            DynBuilder::List(b) => Arc::new(b.finish()),
            DynBuilder::Int(b) => Arc::new(b.finish()),
            DynBuilder::Float(b) => Arc::new(b.finish()),
            DynBuilder::Bool(b) => Arc::new(b.finish()),
            DynBuilder::Bin(b) => Arc::new(b.finish()),
        }
    }
}

/// The columns of events but their LSNs, keyword values and raw records, built event by event:
/// at append for each memtable block (finished when the block is full), or for a row group.
#[derive(Debug)]
pub(crate) struct FieldsBuilder {
    rows: usize,
    ts: Vec<i64>,
    ingested: Vec<i64>,
    id_time: Vec<i64>,
    id_high: Vec<i32>,
    id_low: Vec<i64>,
    message_at: Int32Builder,
    message: StringBuilder,
    dyns: Vec<Option<DynCol>>,
    map_buf: Vec<u8>,
}

impl Default for FieldsBuilder {
    fn default() -> Self {
        FieldsBuilder::new()
    }
}

impl FieldsBuilder {
    pub(crate) fn new() -> FieldsBuilder {
        FieldsBuilder {
            rows: 0,
            ts: Vec::new(),
            ingested: Vec::new(),
            id_time: Vec::new(),
            id_high: Vec::new(),
            id_low: Vec::new(),
            message_at: Int32Builder::new(),
            message: StringBuilder::new(),
            dyns: (0..dyn_fields().len() + Dyn::COUNT_EXTRA)
                .map(|_| None)
                .collect(),
            map_buf: Vec::new(),
        }
    }

    /// Bytes the builder holds: its fixed columns by capacity, the others by their contents
    /// (their spare capacity, at most as much again, is not counted).
    pub(crate) fn mem_bytes(&self) -> usize {
        std::mem::size_of::<FieldsBuilder>()
            + (self.ts.capacity()
                + self.ingested.capacity()
                + self.id_time.capacity()
                + self.id_low.capacity())
                * 8
            + self.id_high.capacity() * 4
            + self.message_at.capacity() * 4
            + self.message.offsets_slice().len() * 4
            + self.message.values_slice().len()
            + self.rows.div_ceil(4)
            + self.map_buf.capacity()
            + self.dyns.capacity() * std::mem::size_of::<Option<DynCol>>()
            + self
                .dyns
                .iter()
                .flatten()
                .map(DynCol::mem_bytes)
                .sum::<usize>()
    }

    /// Adds one event: `message_at` is where its message starts in its raw record when the
    /// message is the raw record's tail (`ev.message` is then not stored).
    pub(crate) fn push(&mut self, ev: &Event, message_at: Option<usize>) {
        let r = self.rows;
        self.ts.push(ev.timestamp.0);
        let received = ev.meta.received;
        self.ingested.push(received.0);
        let id = ev.meta.id.0;
        self.id_time
            .push(((id >> 80) as i64).wrapping_sub(received.millis()));
        self.id_high.push(((id >> 64) & 0xffff) as i32);
        self.id_low.push(id as u64 as i64);
        match message_at.and_then(|at| i32::try_from(at).ok()) {
            Some(at) => {
                self.message_at.append_value(at);
                self.message.append_null();
            }
            None => {
                self.message_at.append_null();
                self.message.append_option(ev.message.as_deref());
            }
        }
        let dyns = &mut self.dyns;
        let present = Group::present(ev);
        for (i, f) in dyn_fields().iter().enumerate() {
            if !present[f.group as usize] {
                continue;
            }
            let mut list_open = false;
            f.def.visit(ev, &mut |v| {
                let col = dyns[i].get_or_insert_with(|| DynCol::new(Dyn::Field(i)));
                if !list_open {
                    col.pad(r);
                }
                match (&mut col.b, v) {
                    (DynBuilder::Str(b), ValueRef::Str(s)) => b.append_value(s),
                    (DynBuilder::Bin(b), ValueRef::Ip(ip)) => {
                        ip_bytes(ip, &mut |x| b.append_value(x));
                    }
                    (DynBuilder::Int(b), ValueRef::Int(n) | ValueRef::Time(n)) => {
                        b.append_value(n);
                    }
                    (DynBuilder::Float(b), ValueRef::Float(x)) => b.append_value(x),
                    (DynBuilder::Bool(b), ValueRef::Bool(x)) => b.append_value(x),
                    (DynBuilder::List(b), ValueRef::Str(s)) => {
                        b.values().append_value(s);
                        list_open = true;
                        return;
                    }
                    // A slot yields its own kind; anything else is left unset.
                    _ => return,
                }
                col.rows = r + 1;
            });
            if list_open && let Some(col) = dyns[i].as_mut() {
                if let DynBuilder::List(b) = &mut col.b {
                    b.append(true);
                }
                col.rows = r + 1;
            }
        }
        for (d, map) in [(Dyn::Extra, &ev.extra), (Dyn::Original, &ev.original)] {
            if map.is_empty() {
                continue;
            }
            self.map_buf.clear();
            encode_map(map, &mut self.map_buf);
            let col = dyns[d.slot()].get_or_insert_with(|| DynCol::new(d));
            col.pad(r);
            if let DynBuilder::Bin(b) = &mut col.b {
                b.append_value(&self.map_buf);
            }
            col.rows = r + 1;
        }
        self.rows += 1;
    }

    /// The columns of the events pushed so far: the fixed ones (`@timestamp`, receive time,
    /// id, message) and the per-segment ones some event has. The builder is empty again.
    pub(crate) fn finish(&mut self) -> Result<RecordBatch, String> {
        let n = self.rows;
        let mut fields = fields_fixed();
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(std::mem::take(&mut self.ts))),
            Arc::new(Int64Array::from(std::mem::take(&mut self.ingested))),
            Arc::new(Int64Array::from(std::mem::take(&mut self.id_time))),
            Arc::new(Int32Array::from(std::mem::take(&mut self.id_high))),
            Arc::new(Int64Array::from(std::mem::take(&mut self.id_low))),
            Arc::new(self.message_at.finish()),
            Arc::new(self.message.finish()),
        ];
        for (slot, c) in self.dyns.iter_mut().enumerate() {
            let Some(mut c) = c.take() else { continue };
            let d = Dyn::of_slot(slot);
            c.pad(n);
            fields.push(Field::new(d.name(), d.data_type(), true));
            cols.push(c.finish());
        }
        self.rows = 0;
        let opts = arrow_array::RecordBatchOptions::new().with_row_count(Some(n));
        RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), cols, &opts)
            .map_err(|e| e.to_string())
    }
}

/// One row group's columns being built: LSNs, keyword values and raw records row by row, the
/// other columns as [`FieldsBuilder`] batches (`push_fields`) or event by event (`push_event`;
/// one way or the other for a row group, not both).
#[derive(Debug)]
pub(crate) struct GroupBuilder {
    rows: usize,
    lsn: Vec<u64>,
    kw: Vec<KwBuilder>,
    raw: BinaryBuilder,
    parts: Vec<RecordBatch>,
    own: FieldsBuilder,
    bloom: HashSet64,
}

/// A finished row group: its columns (fixed, then the per-segment columns it has) and the bits
/// of its bloom filter.
#[derive(Debug)]
pub(crate) struct GroupArrays {
    pub batch: RecordBatch,
    pub bloom: Vec<u8>,
}

impl GroupBuilder {
    pub(crate) fn new() -> GroupBuilder {
        GroupBuilder {
            rows: 0,
            lsn: Vec::new(),
            kw: (0..KW).map(KwBuilder::new).collect(),
            raw: BinaryBuilder::new(),
            parts: Vec::new(),
            own: FieldsBuilder::new(),
            bloom: HashSet64::default(),
        }
    }

    /// Rows added so far.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Adds keys and tokens to the row group's bloom filter.
    pub(crate) fn bloom_extend(&mut self, set: &HashSet64) {
        self.bloom.extend(set.iter().copied());
    }

    /// For each keyword column, the dictionary key of each value of a memtable block's columns
    /// (valid for this row group only).
    pub(crate) fn remap(&mut self, cols: &Columns) -> Vec<Vec<i32>> {
        let mut out = Vec::with_capacity(KW);
        for (f, kw) in self.kw.iter_mut().enumerate() {
            let vals = cols.cols.get(f).map_or(&[][..], |c| c.vals.as_slice());
            if kw.ips.is_some() {
                out.push(Vec::new());
                continue;
            }
            out.push(
                vals.iter()
                    .map(|v| match v {
                        ColValue::Str(s) => kw.intern(s),
                        ColValue::Ip(ip) => kw.intern(&ip.to_string()),
                        ColValue::Int(i) => kw.intern(&i.to_string()),
                    })
                    .collect(),
            );
        }
        out
    }

    /// Adds the LSN and raw record of the next row (its keyword values come with
    /// `push_block_keywords` or `push_event_keywords`, its other columns with `push_fields`).
    pub(crate) fn push_row(&mut self, lsn: u64, raw: &[u8]) {
        self.lsn.push(lsn);
        self.raw.append_value(raw);
        self.rows += 1;
    }

    /// The keyword values of row `i` of a memtable block's columns, through its `remap`.
    pub(crate) fn push_block_keywords(&mut self, cols: &Columns, remap: &[Vec<i32>], i: usize) {
        for (f, kw) in self.kw.iter_mut().enumerate() {
            let col = cols.cols.get(f);
            let id = col.and_then(|c| c.ids.get(i)).copied().unwrap_or(0) as usize;
            if kw.ips.is_some() {
                let ip = id
                    .checked_sub(1)
                    .and_then(|j| col.and_then(|c| c.vals.get(j)))
                    .and_then(|v| match v {
                        ColValue::Ip(ip) => Some(*ip),
                        _ => None,
                    });
                kw.push_ip(ip);
                continue;
            }
            let key = id
                .checked_sub(1)
                .and_then(|j| remap.get(f).and_then(|r| r.get(j)))
                .copied();
            kw.keys.append_option(key);
        }
    }

    /// The keyword values of `ev`, and its keys and tokens into the bloom filter when `bloom`.
    pub(crate) fn push_event_keywords(&mut self, ev: &Event, x: &mut Extractor, bloom: bool) {
        let mut vals: [Option<String>; KW] = Default::default();
        let (mut keys, mut tokens) = (Vec::new(), Vec::new());
        x.extract(
            ev,
            &mut |k| keys.push(k),
            &mut |t| tokens.push(t),
            &mut |f, s| {
                if let Some(slot) = vals.get_mut(f)
                    && slot.is_none()
                {
                    *slot = Some(s.to_owned());
                }
            },
        );
        if bloom {
            self.bloom.extend(keys);
            self.bloom.extend(tokens);
        }
        for (kw, v) in self.kw.iter_mut().zip(&vals) {
            if kw.ips.is_some() {
                // the display form parses back to the same address (IPv4-mapped stays IPv6)
                kw.push_ip(v.as_deref().and_then(|s| s.parse().ok()));
                continue;
            }
            let key = v.as_deref().map(|s| kw.intern(s));
            kw.keys.append_option(key);
        }
    }

    /// Adds one event decoded whole (raw record included): all its columns, its keys and tokens
    /// into the bloom filter when `bloom`.
    #[cfg(test)]
    pub(crate) fn push_event(&mut self, lsn: u64, ev: &Event, x: &mut Extractor, bloom: bool) {
        self.push_event_keywords(ev, x, bloom);
        self.push_row(lsn, &ev.raw);
        self.own.push(ev, message_tail(ev));
    }

    /// Adds the other columns of the next rows ([`FieldsBuilder::finish`] output, or a slice).
    pub(crate) fn push_fields(&mut self, part: RecordBatch) {
        if part.num_rows() > 0 {
            self.parts.push(part);
        }
    }

    /// Finishes the row group (the builder is empty again).
    pub(crate) fn finish(&mut self) -> Result<GroupArrays, String> {
        let n = self.rows;
        if self.own.rows > 0 {
            let own = self.own.finish()?;
            self.parts.push(own);
        }
        let parts = std::mem::take(&mut self.parts);
        let mut layout = Layout::default();
        for p in &parts {
            layout.merge(&Layout::of_schema(&p.schema()));
        }
        let mut fschema = fields_fixed();
        fschema.extend(
            layout
                .dyns
                .iter()
                .map(|d| Field::new(d.name(), d.data_type(), true)),
        );
        let fschema = Arc::new(Schema::new(fschema));
        let aligned = parts
            .iter()
            .map(|p| align(p, &fschema))
            .collect::<Result<Vec<_>, _>>()?;
        let other =
            arrow_select::concat::concat_batches(&fschema, &aligned).map_err(|e| e.to_string())?;
        if other.num_rows() != n {
            return Err(format!(
                "{} rows of columns for a row group of {n} events",
                other.num_rows()
            ));
        }
        let mut fields = vec![Field::new(LSN, DataType::UInt64, false)];
        let mut cols: Vec<ArrayRef> =
            vec![Arc::new(UInt64Array::from(std::mem::take(&mut self.lsn)))];
        for (f, kw) in self.kw.iter_mut().enumerate() {
            fields.push(Field::new(KEYWORD_FIELDS[f], kw_type(f), true));
            cols.push(kw.finish()?);
        }
        fields.push(Field::new(RAW, DataType::Binary, false));
        cols.push(Arc::new(self.raw.finish()));
        for (f, c) in fschema.fields().iter().zip(other.columns()) {
            fields.push(f.as_ref().clone());
            cols.push(c.clone());
        }
        let bloom = index::bloom_build(&self.bloom);
        self.bloom.clear();
        self.rows = 0;
        let batch =
            RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| e.to_string())?;
        Ok(GroupArrays { batch, bloom })
    }
}

/// Where `ev`'s message starts in its raw record, when it is the raw record's (non-empty) tail.
#[cfg(test)]
fn message_tail(ev: &Event) -> Option<usize> {
    let m = ev.message.as_ref()?.as_bytes();
    (!m.is_empty() && ev.raw.ends_with(m)).then(|| ev.raw.len() - m.len())
}

fn encode_map(map: &FieldMap, out: &mut Vec<u8>) {
    struct Sink<'a>(&'a mut Vec<u8>);
    impl Extend<u8> for Sink<'_> {
        fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
            self.0.extend(iter);
        }
    }
    // postcard cannot fail on a FieldMap (string keys, plain values)
    let _ = postcard::to_extend(map, Sink(out));
}

/// `batch`'s columns in the order of `schema` (without its `_bloom`), null where `batch` lacks
/// a column.
pub(crate) fn align(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, String> {
    let n = batch.num_rows();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut cols = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        if f.name() == BLOOM {
            continue;
        }
        let col = match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => c.clone(),
            Some(c) => {
                return Err(format!(
                    "column {} is {}, the segment wants {}",
                    f.name(),
                    c.data_type(),
                    f.data_type()
                ));
            }
            None => new_null_array(f.data_type(), n),
        };
        fields.push(f.as_ref().clone());
        cols.push(col);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| e.to_string())
}

/// The keyword hashes and tokens of the rows of `batch` (a segment's columns), as the
/// memtable collects them: for rewriting row groups without decoding events.
pub(crate) fn bloom_of(batch: &RecordBatch, set: &mut HashSet64) -> Result<(), String> {
    let mut buf = String::new();
    for (f, name) in KEYWORD_FIELDS.iter().enumerate() {
        if kw_is_ip(f) {
            let a = binary(batch, name)?;
            let mut seen: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
            for i in (0..a.len()).filter(|&i| a.is_valid(i)) {
                let b = a.value(i);
                if !seen.insert(b) {
                    continue;
                }
                let ip = ip_of(b).ok_or_else(|| format!("{name}: bad address"))?;
                buf.clear();
                let _ = write!(buf, "{ip}");
                set.insert(index::key_hash(f, &buf));
            }
            continue;
        }
        let Some(d) = batch
            .column_by_name(name)
            .and_then(|a| a.as_any().downcast_ref::<DictionaryArray<Int32Type>>())
        else {
            return Err(format!("{name} column"));
        };
        let values = d
            .values()
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| format!("{name} dictionary"))?;
        let mut done = vec![false; values.len()];
        for k in d.keys().iter().flatten() {
            let Some(seen) = usize::try_from(k).ok().and_then(|k| done.get_mut(k)) else {
                continue;
            };
            if *seen {
                continue;
            }
            *seen = true;
            buf.clear();
            index::lower_into(values.value(k as usize), &mut buf);
            set.insert(index::key_hash(f, &buf));
        }
    }
    let raw = binary(batch, RAW)?;
    let message = string(batch, MESSAGE)?;
    // Most tokens repeat from row to row: a direct-mapped cache skips most set inserts.
    let mut recent = vec![0u64; 4096];
    let mut add = |t: u64| {
        let slot = &mut recent[(t as usize) & 4095];
        if *slot != t {
            *slot = t;
            set.insert(t);
        }
    };
    for i in 0..batch.num_rows() {
        let r = raw.value(i);
        index::for_each_token(r, &mut add);
        if message.is_valid(i) {
            let m = message.value(i).as_bytes();
            if memchr::memmem::find(r, m).is_none() {
                index::for_each_token(m, &mut add);
            }
        }
    }
    Ok(())
}

fn binary<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a BinaryArray, String> {
    b.column_by_name(name)
        .and_then(|a| a.as_any().downcast_ref::<BinaryArray>())
        .ok_or_else(|| format!("{name} column"))
}

fn string<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a StringArray, String> {
    b.column_by_name(name)
        .and_then(|a| a.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| format!("{name} column"))
}

fn int64<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a Int64Array, String> {
    b.column_by_name(name)
        .and_then(|a| a.as_any().downcast_ref::<Int64Array>())
        .ok_or_else(|| format!("{name} column"))
}

fn int32<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a Int32Array, String> {
    b.column_by_name(name)
        .and_then(|a| a.as_any().downcast_ref::<Int32Array>())
        .ok_or_else(|| format!("{name} column"))
}

// ---------------------------------------------------------------------------------------------
// Reading.

/// A column an event is rebuilt from.
enum Source<'a> {
    Keyword(
        &'static FieldDef,
        FieldKind,
        &'a DictionaryArray<Int32Type>,
        &'a StringArray,
    ),
    Str(&'static FieldDef, &'a StringArray),
    Ip(&'static FieldDef, &'a BinaryArray),
    List(&'static FieldDef, &'a ListArray),
    Int(&'static FieldDef, &'a Int64Array),
    Time(&'static FieldDef, &'a Int64Array),
    Float(&'static FieldDef, &'a Float64Array),
    Bool(&'static FieldDef, &'a BooleanArray),
    Map(Dyn, &'a BinaryArray),
}

fn downcast<'a, T: 'static>(a: &'a ArrayRef, name: &str) -> Result<&'a T, String> {
    a.as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| format!("{name} column has the wrong type"))
}

fn keyword_defs() -> &'static [Option<(&'static FieldDef, FieldKind)>; KW] {
    static D: OnceLock<[Option<(&'static FieldDef, FieldKind)>; KW]> = OnceLock::new();
    D.get_or_init(|| {
        let mut out = [None; KW];
        for (i, n) in KEYWORD_FIELDS.iter().enumerate() {
            out[i] = FieldId::lookup(n).map(|id| (id.def(), id.def().kind()));
        }
        out
    })
}

/// Rebuilds the events of `batch` (a segment's columns but `lsn` and `_bloom`, any subset of
/// rows) and appends them to `out`.
pub(crate) fn assemble(batch: &RecordBatch, out: &mut Vec<Event>) -> Result<(), String> {
    let ts = int64(batch, TS)?;
    let ingested = int64(batch, INGESTED)?;
    let (id_time, id_low) = (int64(batch, ID_TIME)?, int64(batch, ID_LOW)?);
    let id_high = int32(batch, ID_HIGH)?;
    let message_at = int32(batch, MESSAGE_AT)?;
    let message = string(batch, MESSAGE)?;
    let raw = binary(batch, RAW)?;
    let mut sources = Vec::new();
    let schema = batch.schema();
    for (f, a) in schema.fields().iter().zip(batch.columns()) {
        let name = f.name().as_str();
        if let Some(k) = KEYWORD_FIELDS.iter().position(|k| *k == name) {
            let Some((def, kind)) = keyword_defs()[k] else {
                continue;
            };
            if kw_is_ip(k) {
                sources.push(Source::Ip(def, downcast(a, name)?));
                continue;
            }
            let d = downcast::<DictionaryArray<Int32Type>>(a, name)?;
            let v = d
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| format!("{name} dictionary"))?;
            sources.push(Source::Keyword(def, kind, d, v));
            continue;
        }
        let Some(d) = Dyn::by_name(name) else {
            continue;
        };
        sources.push(match d {
            Dyn::Extra | Dyn::Original => Source::Map(d, downcast(a, name)?),
            Dyn::Field(i) => {
                let def = dyn_fields()[i].def;
                match dyn_fields()[i].repr {
                    Repr::Str => Source::Str(def, downcast(a, name)?),
                    Repr::Ip => Source::Ip(def, downcast(a, name)?),
                    Repr::List => Source::List(def, downcast(a, name)?),
                    Repr::Int => Source::Int(def, downcast(a, name)?),
                    Repr::Time => Source::Time(def, downcast(a, name)?),
                    Repr::Float => Source::Float(def, downcast(a, name)?),
                    Repr::Bool => Source::Bool(def, downcast(a, name)?),
                }
            }
        });
    }
    let set = |def: &FieldDef, ev: &mut Event, v: Value| {
        def.set(ev, v).map_err(|e| format!("{}: {e}", def.name))
    };
    let ip = |b: &[u8]| -> Result<Value, String> {
        ip_of(b)
            .map(Value::Ip)
            .ok_or_else(|| format!("bad IP address of {} bytes", b.len()))
    };
    out.reserve(batch.num_rows());
    for r in 0..batch.num_rows() {
        let mut ev = blank();
        ev.timestamp = Timestamp(ts.value(r));
        let received = Timestamp(ingested.value(r));
        ev.meta.received = received;
        let ms = id_time.value(r).wrapping_add(received.millis()) as u64;
        ev.meta.id = Ulid::from_parts(
            ms,
            (u128::from(id_high.value(r) as u32 & 0xffff) << 64)
                | u128::from(id_low.value(r) as u64),
        );
        let raw_bytes = raw.value(r);
        ev.raw = Bytes::copy_from_slice(raw_bytes);
        if message_at.is_valid(r) {
            let tail = usize::try_from(message_at.value(r))
                .ok()
                .and_then(|at| raw_bytes.get(at..))
                .ok_or("message offset beyond the raw record")?;
            let m = std::str::from_utf8(tail).map_err(|_| "message is not UTF-8")?;
            ev.message = Some(SmolStr::new(m));
        } else if message.is_valid(r) {
            ev.message = Some(SmolStr::new(message.value(r)));
        }
        for s in &sources {
            match s {
                Source::Keyword(def, kind, d, vals) => {
                    if !d.is_valid(r) {
                        continue;
                    }
                    let k = usize::try_from(d.keys().value(r)).map_err(|_| "bad dictionary key")?;
                    if k >= vals.len() {
                        return Err("dictionary key out of range".into());
                    }
                    let v = vals.value(k);
                    let v = match kind {
                        FieldKind::Int => Value::Int(
                            v.parse()
                                .map_err(|_| format!("{}: bad integer {v:?}", def.name))?,
                        ),
                        _ => Value::Str(SmolStr::new(v)),
                    };
                    set(def, &mut ev, v)?;
                }
                Source::Str(def, a) => {
                    if a.is_valid(r) {
                        set(def, &mut ev, Value::Str(SmolStr::new(a.value(r))))?;
                    }
                }
                Source::Ip(def, a) => {
                    if a.is_valid(r) {
                        set(def, &mut ev, ip(a.value(r))?)?;
                    }
                }
                Source::List(def, a) => {
                    if a.is_valid(r) {
                        let items = a.value(r);
                        let items = items
                            .as_any()
                            .downcast_ref::<StringArray>()
                            .ok_or("list items are not strings")?;
                        let v = (0..items.len())
                            .filter(|&j| items.is_valid(j))
                            .map(|j| Value::Str(SmolStr::new(items.value(j))))
                            .collect();
                        set(def, &mut ev, Value::List(v))?;
                    }
                }
                Source::Int(def, a) => {
                    if a.is_valid(r) {
                        set(def, &mut ev, Value::Int(a.value(r)))?;
                    }
                }
                Source::Time(def, a) => {
                    if a.is_valid(r) {
                        set(def, &mut ev, Value::Time(a.value(r)))?;
                    }
                }
                Source::Float(def, a) => {
                    if a.is_valid(r) {
                        set(def, &mut ev, Value::Float(a.value(r)))?;
                    }
                }
                Source::Bool(def, a) => {
                    if a.is_valid(r) {
                        set(def, &mut ev, Value::Bool(a.value(r)))?;
                    }
                }
                Source::Map(d, a) => {
                    if a.is_valid(r) {
                        let m: FieldMap = postcard::from_bytes(a.value(r))
                            .map_err(|e| format!("{}: {e}", d.name()))?;
                        match d {
                            Dyn::Extra => ev.extra = m,
                            _ => ev.original = m,
                        }
                    }
                }
            }
        }
        out.push(ev);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::index::KEYWORD_FIELDS_V2;

    /// Every field of the event struct is in the registry (a field outside it would not be
    /// stored): the serialized blank event has one leaf per registry field, plus the maps and
    /// the raw record.
    #[test]
    fn every_event_field_is_registered() {
        fn leaves(v: &serde_json::Value) -> usize {
            match v {
                serde_json::Value::Object(m) => m.values().map(leaves).sum(),
                _ => 1,
            }
        }
        let v = serde_json::to_value(Event::default()).expect("serializes");
        let obj = v.as_object().expect("an object");
        let n: usize = obj
            .iter()
            .filter(|(k, _)| !["extra", "original", "raw"].contains(&k.as_str()))
            .map(|(_, v)| leaves(v))
            .sum();
        assert_eq!(
            n,
            vigil_event::schema::fields().len(),
            "Event has a field the registry lacks (or the reverse): segments would drop it"
        );
        // and the blank event has none of the per-segment fields set
        let b = blank();
        for f in dyn_fields() {
            if f.def.name != "vigil.type" {
                assert!(!f.def.is_set(&b), "{} is set on a blank event", f.def.name);
            }
        }
    }

    /// A value in each field alone comes back (so no field is skipped with its struct).
    #[test]
    fn each_field_alone_round_trips() {
        let mut g = GroupBuilder::new();
        let mut x = Extractor::new();
        let mut sent = Vec::new();
        for (i, f) in vigil_event::schema::fields().iter().enumerate() {
            if ["vigil.event_id", "@timestamp"].contains(&f.name) {
                continue;
            }
            let mut ev = blank();
            ev.raw = Bytes::from_static(b"x");
            let v = match f.kind() {
                FieldKind::Str => Value::Str(if f.name == "vigil.type" {
                    "audit".into()
                } else {
                    SmolStr::new(format!("v{i}"))
                }),
                FieldKind::StrList => Value::List(vec![Value::Str("a".into())]),
                FieldKind::Int => Value::Int(7),
                FieldKind::Float => Value::Float(0.5),
                FieldKind::Bool => Value::Bool(false),
                FieldKind::Ip => Value::Ip([10, 0, 0, 1].into()),
                FieldKind::Time => Value::Time(-5),
            };
            f.set(&mut ev, v).expect(f.name);
            g.push_event(i as u64 + 1, &ev, &mut x, false);
            sent.push(ev);
        }
        let arrays = g.finish().expect("finishes");
        let mut back = Vec::new();
        assemble(&arrays.batch, &mut back).expect("assembles");
        for (b, s) in back.iter().zip(&sent) {
            assert_eq!(b, s);
        }
        assert_eq!(back.len(), sent.len());
    }

    #[test]
    fn every_field_round_trips() {
        let mut ev = Event::new(Bytes::from_static(b"<13>Nov 22 h app[1]: hi there"));
        ev.message = Some("hi there".into());
        for (i, f) in vigil_event::schema::fields().iter().enumerate() {
            let v = match f.kind() {
                FieldKind::Str => Value::Str(SmolStr::new(format!("v{i}"))),
                FieldKind::StrList => Value::List(vec![
                    Value::Str("a".into()),
                    Value::Str(format!("b{i}").into()),
                ]),
                FieldKind::Int => Value::Int(i as i64 + 1),
                FieldKind::Float => Value::Float(i as f64 + 0.5),
                FieldKind::Bool => Value::Bool(true),
                FieldKind::Ip => {
                    Value::Ip(format!("::ffff:10.0.0.{i}").parse::<IpAddr>().expect("ip"))
                }
                FieldKind::Time => Value::Time(1_700_000_000_123_456_789 + i as i64),
            };
            if ["vigil.event_id", "vigil.type", "message", "@timestamp"].contains(&f.name) {
                continue;
            }
            f.set(&mut ev, v).expect(f.name);
        }
        ev.meta.kind = vigil_event::EventType::Audit;
        ev.extra.insert("x.y", 1);
        ev.original.insert("suser", "bob");
        let mut other = Event::new(Bytes::from_static(b"\xff\x00 not utf-8"));
        other.meta.tenant = SmolStr::default();
        other.message = Some("elsewhere".into());
        other.user.name = Some(String::new().into());
        let mut g = GroupBuilder::new();
        let mut x = Extractor::new();
        for (lsn, e) in [(1, &ev), (2, &other), (3, &ev)] {
            g.push_event(lsn, e, &mut x, true);
        }
        let arrays = g.finish().expect("finishes");
        let mut back = Vec::new();
        assemble(&arrays.batch, &mut back).expect("assembles");
        assert_eq!(back, vec![ev.clone(), other, ev]);
        // the bloom of the columns equals the bloom of the events
        let mut set = HashSet64::default();
        bloom_of(&arrays.batch, &mut set).expect("bloom");
        let (mut keys, mut tokens) = (Vec::new(), Vec::new());
        for e in [&back[0], &back[1]] {
            let mut x = Extractor::new();
            x.extract(
                e,
                &mut |k| keys.push(k),
                &mut |t| tokens.push(t),
                &mut |_, _| {},
            );
        }
        let want: HashSet64 = keys.into_iter().chain(tokens).collect();
        assert_eq!(set, want);
        // aligned to a wider layout, the missing columns are null
        let mut layout = Layout::of_schema(&arrays.batch.schema());
        assert!(layout.dyns.contains(&Dyn::Extra));
        layout.merge(&Layout {
            dyns: vec![Dyn::Original],
        });
        let aligned = align(&arrays.batch, &layout.schema()).expect("aligns");
        check_schema(&layout.schema(), KW).expect("checks");
        let mut again = Vec::new();
        assemble(&aligned, &mut again).expect("assembles");
        assert_eq!(again, back);
    }

    /// A row group as format 2 stored it (the later keyword fields as text columns) passes the
    /// checks for that format, not for this one, and reads back the same events once upgraded.
    #[test]
    fn format2_keyword_text_columns_read_back() {
        let mut ev = Event::new(Bytes::from_static(b"correlation: SSH brute force"));
        ev.meta.kind = vigil_event::EventType::Correlation;
        ev.meta.source_id = "syslog-tcp".into();
        ev.meta.collector_id = "c1".into();
        ev.rule.id = Some("r1".into());
        ev.rule.name = Some("SSH brute force".into());
        ev.user.name = Some("alice".into());
        let mut base = Event::new(Bytes::from_static(b"base"));
        base.process.name = Some("sshd".into());
        base.meta.tenant = SmolStr::default();
        let mut g = GroupBuilder::new();
        let mut x = Extractor::new();
        for (lsn, e) in [(1, &ev), (2, &base), (3, &ev)] {
            g.push_event(lsn, e, &mut x, false);
        }
        let batch = g.finish().expect("finishes").batch;
        // Format 2: the later keyword columns as text (Utf8), nulls kept.
        let schema = batch.schema();
        let mut fields = Vec::new();
        let mut cols: Vec<ArrayRef> = Vec::new();
        for (f, a) in schema.fields().iter().zip(batch.columns()) {
            let k = KEYWORD_FIELDS.iter().position(|k| k == f.name());
            match k {
                Some(k) if k >= KEYWORD_FIELDS_V2 => {
                    let d = a
                        .as_any()
                        .downcast_ref::<DictionaryArray<Int32Type>>()
                        .expect("dictionary");
                    let v = d
                        .values()
                        .as_any()
                        .downcast_ref::<StringArray>()
                        .expect("strings");
                    let text: StringArray = d
                        .keys()
                        .iter()
                        .map(|k| k.map(|k| v.value(k as usize)))
                        .collect();
                    if text.null_count() == text.len() {
                        continue; // a format-2 segment had no column for an unset field
                    }
                    fields.push(Field::new(f.name(), DataType::Utf8, true));
                    cols.push(Arc::new(text));
                }
                _ => {
                    fields.push(f.as_ref().clone());
                    cols.push(a.clone());
                }
            }
        }
        let mut file_fields = fields.clone();
        file_fields.push(Field::new(BLOOM, DataType::Binary, true));
        let v2 = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("v2 batch");
        assert!(v2.column_by_name("rule.category").is_none());
        let file_schema = Schema::new(file_fields);
        check_schema(&file_schema, KEYWORD_FIELDS_V2).expect("a format-2 schema");
        assert!(check_schema(&file_schema, KW).is_err());
        let up = upgrade_legacy(v2, KEYWORD_FIELDS_V2).expect("upgrades");
        assert_eq!(
            up.column_by_name("vigil.type")
                .map(|a| a.data_type().clone()),
            Some(kw_type(KEYWORD_FIELDS_V2))
        );
        let mut back = Vec::new();
        assemble(&up, &mut back).expect("assembles");
        assert_eq!(back, vec![ev.clone(), base, ev]);
        // Aligned to this format's layout, the missing column is null and the bloom covers
        // the upgraded columns.
        let aligned = align(&up, &Layout::of_schema(&up.schema()).schema()).expect("aligns");
        let mut set = HashSet64::default();
        bloom_of(&aligned, &mut set).expect("bloom");
        let k = KEYWORD_FIELDS
            .iter()
            .position(|n| *n == "rule.name")
            .expect("rule.name");
        assert!(set.contains(&index::key_hash(k, "ssh brute force")));
    }
}
