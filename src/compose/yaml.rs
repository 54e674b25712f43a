//! YAML → [`Node`] tree that remembers where each value came from.
//!
//! Compose files need anchors, aliases, merge keys (`<<`), the `!reset` and
//! `!override` tags and line numbers for error messages; no maintained serde
//! YAML crate keeps all of those, so we build our own small tree from
//! yaml-rust2's event stream. Scalars are resolved the way Go's yaml.v3 does
//! when decoding into `interface{}` (what compose-go uses): YAML 1.2 core
//! schema, `yes`/`no` stay strings, timestamps stay strings.

use indexmap::IndexMap;
use std::fmt;
use std::sync::Arc;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag as YamlTag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Upper bound on nodes materialised through aliases: stops "billion laughs"
/// documents long before they exhaust memory.
pub const MAX_ALIAS_EXPANSION: usize = 1_000_000;
/// Upper bound on nesting depth, so hostile input cannot overflow the stack.
pub const MAX_DEPTH: usize = 256;

/// Where a node was written.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    /// File name as the user gave it (or `-` for stdin).
    pub file: Arc<str>,
    /// 1-based line; 0 when unknown (values made by the loader itself).
    pub line: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}", self.file, self.line)
        } else {
            write!(f, "{}", self.file)
        }
    }
}

/// Compose's merge-control tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeTag {
    /// `!reset`: drop the value inherited from earlier files.
    Reset,
    /// `!override`: replace the inherited value instead of merging into it.
    Override,
}

/// A mapping with string keys, in document order.
pub type Mapping = IndexMap<String, Node>;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Mapping),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    pub tag: Option<MergeTag>,
}

#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("{pos}: {msg}")]
    Syntax { pos: Pos, msg: String },
}

impl Node {
    pub fn new(value: Value, pos: Pos) -> Self {
        Node {
            value,
            pos,
            tag: None,
        }
    }

    /// A node made by the loader (no source line).
    pub fn synthetic(value: Value) -> Self {
        Node::new(value, Pos::default())
    }

    pub fn str(s: impl Into<String>) -> Self {
        Node::synthetic(Value::Str(s.into()))
    }

    pub fn as_map(&self) -> Option<&Mapping> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Mapping> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// Looks up `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map().and_then(|m| m.get(key))
    }

    /// The scalar as text, as Go's `fmt.Sprint` would print it (used where
    /// compose turns numbers and booleans into strings, e.g. environment).
    pub fn scalar_string(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_go_float(*f)),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Converts to JSON, dropping positions and tags.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(s) => J::Array(s.iter().map(Node::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// Builds a node tree from JSON (positions unknown).
    pub fn from_json(v: &serde_json::Value) -> Node {
        use serde_json::Value as J;
        let value = match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(a) => Value::Seq(a.iter().map(Node::from_json).collect()),
            J::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Node::from_json(v)))
                    .collect(),
            ),
        };
        Node::synthetic(value)
    }

    /// Finds the node at a dotted/indexed path such as `services.web.ports[1]`
    /// split into segments; returns the deepest node reached (for positions).
    pub fn find<'a>(&'a self, path: &[PathSeg]) -> &'a Node {
        let mut cur = self;
        for seg in path {
            let next = match (seg, &cur.value) {
                (PathSeg::Key(k), Value::Map(m)) => m.get(k),
                (PathSeg::Index(i), Value::Seq(s)) => s.get(*i),
                _ => None,
            };
            match next {
                Some(n) => cur = n,
                None => break,
            }
        }
        cur
    }
}

/// One step of a path into a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

impl PathSeg {
    /// The key, or `None` for a sequence index.
    pub fn key(&self) -> Option<&str> {
        match self {
            PathSeg::Key(k) => Some(k),
            PathSeg::Index(_) => None,
        }
    }
}

/// Whether a path fits a rule pattern such as `services.*.ports`: `*`
/// stands for any one key or index, other segments for that key. The one
/// matcher behind every table-driven phase; `None` segments are indexes.
pub fn pattern_matches<'a>(pattern: &str, path: impl IntoIterator<Item = Option<&'a str>>) -> bool {
    let mut segments = pattern.split('.');
    for seg in path {
        match (segments.next(), seg) {
            (Some("*"), _) => {}
            (Some(want), Some(key)) if want == key => {}
            _ => return false,
        }
    }
    segments.next().is_none()
}

/// Formats a path the way error messages show it: `services.web.ports[1]`.
pub fn path_string(path: &[PathSeg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSeg::Index(i) => {
                out.push_str(&format!("[{i}]"));
            }
        }
    }
    out
}

/// Go's `fmt.Sprint` of a float64: shortest digits, exponent form below
/// 1e-4 and from 1e6 on (`1e+06`), as Compose prints numbers in strings.
pub fn format_go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (sci.clone(), 0),
    };
    if f != 0.0 && !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        format!("{f}")
    }
}

/// Parses every document of `src`. An empty file yields no documents.
pub fn parse_documents(src: &str, file: &str) -> Result<Vec<Node>, YamlError> {
    let file: Arc<str> = Arc::from(file);
    let mut builder = Builder {
        file: file.clone(),
        stack: Vec::new(),
        anchors: IndexMap::new(),
        docs: Vec::new(),
        expanded: 0,
        error: None,
    };
    let mut parser = Parser::new_from_str(src);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        let mut msg = e.info().to_string();
        if msg.contains("unknown anchor") {
            // Name the alias: the scanner only says that one is unknown.
            if let Some(name) = alias_at_line(src, m.line()) {
                msg = format!("unknown anchor '{name}' referenced");
            }
        }
        return Err(YamlError::Syntax {
            pos: Pos {
                file,
                line: m.line(),
            },
            msg,
        });
    }
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.docs)
}

/// The first `*alias` written on a 1-based line of `src`.
fn alias_at_line(src: &str, line: usize) -> Option<String> {
    let text = src.lines().nth(line.checked_sub(1)?)?;
    let start = text.find('*')? + 1;
    let name: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}'))
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Parses a single-document YAML file; an empty file is an empty mapping.
pub fn parse(src: &str, file: &str) -> Result<Node, YamlError> {
    let docs = parse_documents(src, file)?;
    match docs.len() {
        0 => Ok(Node::new(
            Value::Map(Mapping::new()),
            Pos {
                file: Arc::from(file),
                line: 1,
            },
        )),
        _ => Ok(docs
            .into_iter()
            .next()
            .unwrap_or_else(|| Node::synthetic(Value::Null))),
    }
}

enum Frame {
    Seq {
        node: Node,
        anchor: usize,
    },
    Map {
        node: Node,
        anchor: usize,
        key: Option<(Node, bool)>,
        /// Maps merged in through `<<`, applied when the mapping closes so
        /// explicit keys always win, wherever they appear.
        merges: Vec<Mapping>,
    },
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    anchors: IndexMap<usize, Node>,
    docs: Vec<Node>,
    expanded: usize,
    error: Option<YamlError>,
}

fn count_nodes(n: &Node) -> usize {
    match &n.value {
        Value::Seq(s) => 1 + s.iter().map(count_nodes).sum::<usize>(),
        Value::Map(m) => 1 + m.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

fn merge_tag(tag: &Option<YamlTag>) -> Option<MergeTag> {
    match tag {
        Some(t) if t.handle == "!" && t.suffix == "reset" => Some(MergeTag::Reset),
        Some(t) if t.handle == "!" && t.suffix == "override" => Some(MergeTag::Override),
        _ => None,
    }
}

/// Resolves a plain scalar as yaml.v3 does for `interface{}` targets.
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Value::Str(s.to_string());
    }
    let plain: String = s.chars().filter(|c| *c != '_').collect();
    if let Some(i) = parse_go_int(&plain) {
        return Value::Int(i);
    }
    if is_yaml_float(&plain) {
        if let Ok(f) = plain.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(s.to_string())
}

/// `strconv.ParseInt(s, 0, 64)`: optional sign, then 0x / 0o / 0b / leading-0
/// octal / decimal.
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

/// yaml.v3's float pattern: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let fs = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if int_digits == 0 && i == fs {
            return false;
        }
    } else if int_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let es = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == es {
            return false;
        }
    }
    i == b.len()
}

fn resolve_tagged(s: &str, tag: &YamlTag) -> Value {
    if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
        return match tag.suffix.as_str() {
            "str" => Value::Str(s.to_string()),
            "int" => parse_go_int(&s.replace('_', ""))
                .map(Value::Int)
                .unwrap_or_else(|| Value::Str(s.to_string())),
            "float" => s
                .parse::<f64>()
                .map(Value::Float)
                .unwrap_or_else(|_| Value::Str(s.to_string())),
            "bool" => match resolve_plain(s) {
                Value::Bool(b) => Value::Bool(b),
                _ => Value::Str(s.to_string()),
            },
            "null" => Value::Null,
            _ => resolve_plain(s),
        };
    }
    resolve_plain(s)
}

impl Builder {
    fn pos(&self, mark: &Marker) -> Pos {
        Pos {
            file: self.file.clone(),
            line: mark.line(),
        }
    }

    /// Path of the collection being filled, for messages about its keys.
    fn path_to_open_value(&self) -> Vec<PathSeg> {
        let mut path = Vec::new();
        for (i, frame) in self.stack.iter().enumerate() {
            let innermost = i + 1 == self.stack.len();
            if innermost {
                break;
            }
            match frame {
                Frame::Map {
                    key: Some((k, _)), ..
                } => path.push(PathSeg::Key(k.scalar_string().unwrap_or_default())),
                Frame::Seq { node, .. } => {
                    path.push(PathSeg::Index(node.as_seq().map_or(0, Vec::len)))
                }
                Frame::Map { key: None, .. } => {}
            }
        }
        path
    }

    fn fail(&mut self, pos: Pos, msg: String) {
        if self.error.is_none() {
            self.error = Some(YamlError::Syntax { pos, msg });
        }
    }

    /// Hands a finished node to its parent (or makes it a document).
    fn push_value(&mut self, node: Node, is_plain_merge_key: bool) {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { node: seq, .. }) => {
                if let Value::Seq(items) = &mut seq.value {
                    items.push(node);
                }
            }
            Some(Frame::Map {
                node: map,
                key,
                merges,
                ..
            }) => match key.take() {
                None => *key = Some((node, is_plain_merge_key)),
                Some((k, true)) => {
                    // `<<: *anchor` or `<<: [*a, *b]`: earlier maps win.
                    let pos = k.pos.clone();
                    match node.value {
                        Value::Map(m) => merges.push(m),
                        Value::Seq(items) => {
                            let mut combined = Mapping::new();
                            for item in items {
                                match item.value {
                                    Value::Map(m) => {
                                        for (k2, v2) in m {
                                            combined.entry(k2).or_insert(v2);
                                        }
                                    }
                                    _ => {
                                        let msg = "map merge requires map or sequence of maps as the value".to_string();
                                        self.fail(pos, msg);
                                        return;
                                    }
                                }
                            }
                            merges.push(combined);
                        }
                        Value::Null => {}
                        _ => {
                            self.fail(
                                pos,
                                "map merge requires map or sequence of maps as the value".into(),
                            );
                        }
                    }
                }
                Some((k, false)) => {
                    let key_str = match &k.value {
                        Value::Str(s) => s.clone(),
                        Value::Null => "<nil>".into(),
                        Value::Map(_) | Value::Seq(_) => {
                            let pos = k.pos.clone();
                            self.fail(
                                pos,
                                "invalid map key: mappings and sequences cannot be keys".into(),
                            );
                            return;
                        }
                        _ => k.scalar_string().unwrap_or_default(),
                    };
                    let key_pos = k.pos.clone();
                    let duplicate_of = match &map.value {
                        Value::Map(m) => m.get(&key_str).map(|prev| prev.pos.line),
                        _ => None,
                    };
                    if let Some(line) = duplicate_of {
                        let mut path = self.path_to_open_value();
                        path.push(PathSeg::Key(key_str.clone()));
                        let msg = format!(
                            "{}: mapping key {:?} already defined at line {line}",
                            path_string(&path),
                            key_str
                        );
                        self.fail(key_pos, msg);
                        return;
                    }
                    let Some(Frame::Map { node: map, .. }) = self.stack.last_mut() else {
                        return;
                    };
                    if let Value::Map(m) = &mut map.value {
                        let mut node = node;
                        // A value is reported where its key is written: a
                        // block mapping or list only starts on the next line.
                        node.pos = key_pos;
                        m.insert(key_str, node);
                    }
                }
            },
        }
    }

    fn register_anchor(&mut self, anchor: usize, node: &Node) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let pos = self.pos(&mark);
                let is_merge_key = style == TScalarStyle::Plain
                    && text == "<<"
                    && tag.is_none()
                    && matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
                let value = match (&tag, style) {
                    (Some(t), _) if merge_tag(&tag).is_none() => resolve_tagged(&text, t),
                    (_, TScalarStyle::Plain) => resolve_plain(&text),
                    _ => Value::Str(text),
                };
                let node = Node {
                    value,
                    pos,
                    tag: merge_tag(&tag),
                };
                self.register_anchor(anchor, &node);
                self.push_value(node, is_merge_key);
            }
            Event::SequenceStart(anchor, tag) => {
                if self.stack.len() >= MAX_DEPTH {
                    let pos = self.pos(&mark);
                    self.fail(
                        pos,
                        format!("document nested deeper than {MAX_DEPTH} levels"),
                    );
                    return;
                }
                let mut node = Node::new(Value::Seq(Vec::new()), self.pos(&mark));
                node.tag = merge_tag(&tag);
                self.stack.push(Frame::Seq { node, anchor });
            }
            Event::MappingStart(anchor, tag) => {
                if self.stack.len() >= MAX_DEPTH {
                    let pos = self.pos(&mark);
                    self.fail(
                        pos,
                        format!("document nested deeper than {MAX_DEPTH} levels"),
                    );
                    return;
                }
                let mut node = Node::new(Value::Map(Mapping::new()), self.pos(&mark));
                node.tag = merge_tag(&tag);
                self.stack.push(Frame::Map {
                    node,
                    anchor,
                    key: None,
                    merges: Vec::new(),
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq { node, anchor }) = self.stack.pop() {
                    self.register_anchor(anchor, &node);
                    self.push_value(node, false);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    mut node,
                    anchor,
                    merges,
                    ..
                }) = self.stack.pop()
                {
                    if let Value::Map(m) = &mut node.value {
                        for merged in merges {
                            for (k, v) in merged {
                                m.entry(k).or_insert(v);
                            }
                        }
                    }
                    self.register_anchor(anchor, &node);
                    self.push_value(node, false);
                }
            }
            Event::Alias(id) => {
                let pos = self.pos(&mark);
                match self.anchors.get(&id) {
                    Some(n) => {
                        let n = n.clone();
                        self.expanded += count_nodes(&n);
                        if self.expanded > MAX_ALIAS_EXPANSION {
                            self.fail(
                                pos,
                                format!(
                                    "document expands to more than {MAX_ALIAS_EXPANSION} nodes through aliases (billion-laughs protection)"
                                ),
                            );
                            return;
                        }
                        self.push_value(n, false);
                    }
                    None => self.fail(pos, "unknown anchor".into()),
                }
            }
            Event::DocumentEnd => {
                // A document that closed with no content ends as Null.
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Node {
        parse(s, "t.yaml").expect("parse")
    }

    #[test]
    fn scalars_resolve_like_yaml_v3() {
        let n = p("a: yes\nb: 0x10\nc: 010\nd: 1_000\ne: 1.5\nf: '1'\ng: ~\nh: 1e3\ni: .5\nj: 2001-12-14\n");
        assert_eq!(
            n.get("a").map(|n| &n.value),
            Some(&Value::Str("yes".into()))
        );
        assert_eq!(n.get("b").map(|n| &n.value), Some(&Value::Int(16)));
        assert_eq!(n.get("c").map(|n| &n.value), Some(&Value::Int(8)));
        assert_eq!(n.get("d").map(|n| &n.value), Some(&Value::Int(1000)));
        assert_eq!(n.get("e").map(|n| &n.value), Some(&Value::Float(1.5)));
        assert_eq!(n.get("f").map(|n| &n.value), Some(&Value::Str("1".into())));
        assert_eq!(n.get("g").map(|n| &n.value), Some(&Value::Null));
        assert_eq!(n.get("h").map(|n| &n.value), Some(&Value::Float(1000.0)));
        assert_eq!(n.get("i").map(|n| &n.value), Some(&Value::Float(0.5)));
        assert_eq!(
            n.get("j").map(|n| &n.value),
            Some(&Value::Str("2001-12-14".into()))
        );
    }

    #[test]
    fn merge_keys_explicit_keys_win() {
        let n = p("base: &b {x: 1, y: 2}\nother: &o {y: 5, z: 6}\nm:\n  x: 9\n  <<: [*b, *o]\n");
        let m = n.get("m").expect("m");
        assert_eq!(m.get("x").map(|n| &n.value), Some(&Value::Int(9)));
        assert_eq!(m.get("y").map(|n| &n.value), Some(&Value::Int(2)));
        assert_eq!(m.get("z").map(|n| &n.value), Some(&Value::Int(6)));
    }

    #[test]
    fn tags_and_lines_are_kept() {
        let n = p("services:\n  web:\n    ports: !reset []\n    image: !override x\n");
        let web = n.get("services").and_then(|s| s.get("web")).expect("web");
        assert_eq!(web.get("ports").and_then(|p| p.tag), Some(MergeTag::Reset));
        assert_eq!(
            web.get("image").and_then(|p| p.tag),
            Some(MergeTag::Override)
        );
        assert_eq!(web.get("image").map(|p| p.pos.line), Some(4));
    }

    #[test]
    fn duplicate_keys_are_an_error_naming_both_lines() {
        let e = parse("a: 1\nb: 2\na: 3\n", "dup.yaml").expect_err("dup");
        let msg = e.to_string();
        assert!(msg.contains("dup.yaml:3"), "{msg}");
        assert!(msg.contains("already defined at line 1"), "{msg}");
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let e = parse(&doc, "bomb.yaml").expect_err("bomb");
        assert!(e.to_string().contains("billion-laughs"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let doc = "[".repeat(10_000);
        assert!(parse(&doc, "deep.yaml").is_err());
    }

    #[test]
    fn patterns_match_keys_and_wildcards() {
        let path = [
            PathSeg::Key("services".into()),
            PathSeg::Key("web".into()),
            PathSeg::Key("ports".into()),
        ];
        assert!(pattern_matches(
            "services.*.ports",
            path.iter().map(PathSeg::key)
        ));
        assert!(!pattern_matches(
            "services.*",
            path.iter().map(PathSeg::key)
        ));
        assert!(!pattern_matches(
            "services.*.ports.*",
            path.iter().map(PathSeg::key)
        ));
        let indexed = [PathSeg::Key("include".into()), PathSeg::Index(0)];
        assert!(pattern_matches(
            "include.*",
            indexed.iter().map(PathSeg::key)
        ));
        assert!(!pattern_matches(
            "include.path",
            indexed.iter().map(PathSeg::key)
        ));
    }

    #[test]
    fn go_float_format() {
        assert_eq!(format_go_float(0.5), "0.5");
        assert_eq!(format_go_float(1e21), "1e+21");
        assert_eq!(format_go_float(1e6), "1e+06");
        assert_eq!(format_go_float(1234567.5), "1.2345675e+06");
        assert_eq!(format_go_float(0.0001), "0.0001");
        assert_eq!(format_go_float(0.00001), "1e-05");
        assert_eq!(format_go_float(100.0), "100");
    }
}
