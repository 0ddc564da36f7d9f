//! The card's file tree (MF, DFs, transparent EFs) as an arena that serializes into the card
//! image. It knows ISO/IEC 7816-4 file identifiers, names and life cycles, never what the files
//! mean.

use serde::{Deserialize, Serialize};

/// Life cycle status byte: creation state.
pub const LCS_CREATION: u8 = 0x01;
/// Life cycle status byte: initialisation state.
pub const LCS_INITIALISATION: u8 = 0x03;
/// Life cycle status byte: operational state (activated).
pub const LCS_ACTIVATED: u8 = 0x05;

/// Bytes of EEPROM a DF costs beyond its EFs (header, name).
pub const DF_OVERHEAD: usize = 64;

/// One file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// File identifier.
    pub fid: u16,
    /// Parent DF (None for the MF).
    pub parent: Option<usize>,
    /// Life cycle status byte.
    pub lcs: u8,
    /// DF or EF content.
    pub kind: NodeKind,
}

/// DF or transparent EF.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeKind {
    /// A dedicated file.
    Df {
        /// DF name (AID), if any.
        #[serde(with = "crate::hexser")]
        name: Vec<u8>,
        /// Children, in creation order.
        children: Vec<usize>,
        /// Private keys held in this DF: (key reference, P-256 scalar). Never sent by any command.
        keys: Vec<Key>,
    },
    /// A transparent elementary file.
    Ef {
        /// Short EF identifier, if any.
        sfi: Option<u8>,
        /// The whole EF (its size is the length).
        #[serde(with = "crate::hexser")]
        data: Vec<u8>,
    },
}

impl std::fmt::Debug for NodeKind {
    // EF content is card data (MRZ, photo): sizes only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeKind::Df {
                name,
                children,
                keys,
            } => f
                .debug_struct("Df")
                .field("name_len", &name.len())
                .field("children", children)
                .field("keys", keys)
                .finish(),
            NodeKind::Ef { sfi, data } => f
                .debug_struct("Ef")
                .field("sfi", sfi)
                .field("size", &data.len())
                .finish(),
        }
    }
}

/// A private key kept by the card.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// Key reference (P2 of GENERATE ASYMMETRIC KEY PAIR).
    pub reference: u8,
    /// The P-256 private scalar.
    #[serde(with = "crate::hexser")]
    pub scalar: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Key {{ reference: {:02X}, scalar: <redacted> }}",
            self.reference
        )
    }
}

/// The file tree. Node 0 is the MF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSystem {
    /// All files; indices are stable (files are never deleted).
    pub nodes: Vec<Node>,
    /// The CAN (PACE password), written once during personalization; no command reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can: Option<Secret>,
    /// The blank's SCP03 transport keys (ECARD.md section 11), until the card is locked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportKeys>,
}

/// A blank's SCP03 transport state: its diversification data, key version, static keys and
/// failed authentications. Kept inside the card; its debug output shows no key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransportKeys {
    /// Key diversification data (the card serial), 10 bytes.
    #[serde(with = "crate::hexser")]
    pub kdd: Vec<u8>,
    /// Key version number.
    pub kvn: u8,
    /// Key-ENC.
    #[serde(with = "crate::hexser")]
    pub enc: Vec<u8>,
    /// Key-MAC.
    #[serde(with = "crate::hexser")]
    pub mac: Vec<u8>,
    /// Key-DEK.
    #[serde(with = "crate::hexser")]
    pub dek: Vec<u8>,
    /// Wrong host cryptograms in a row; three block the keys.
    pub failures: u8,
    /// After the lock the channel is closed for good.
    pub closed: bool,
}

impl std::fmt::Debug for TransportKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportKeys")
            .field("kvn", &self.kvn)
            .field("failures", &self.failures)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// A password kept by the card OS. Its debug output is redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Default for FileSystem {
    fn default() -> Self {
        FileSystem {
            nodes: vec![Node {
                fid: 0x3F00,
                parent: None,
                lcs: LCS_ACTIVATED,
                kind: NodeKind::Df {
                    name: Vec::new(),
                    children: Vec::new(),
                    keys: Vec::new(),
                },
            }],
            can: None,
            transport: None,
        }
    }
}

impl FileSystem {
    /// Node `i`, if it exists.
    pub fn get(&self, i: usize) -> Option<&Node> {
        self.nodes.get(i)
    }

    /// Whether node `i` is a DF.
    pub fn is_df(&self, i: usize) -> bool {
        matches!(
            self.nodes.get(i).map(|n| &n.kind),
            Some(NodeKind::Df { .. })
        )
    }

    /// Children of DF `i`.
    pub fn children(&self, i: usize) -> &[usize] {
        match self.nodes.get(i).map(|n| &n.kind) {
            Some(NodeKind::Df { children, .. }) => children,
            _ => &[],
        }
    }

    /// The child of `df` with file id `fid`.
    pub fn child_by_fid(&self, df: usize, fid: u16) -> Option<usize> {
        self.children(df)
            .iter()
            .copied()
            .find(|c| self.nodes.get(*c).is_some_and(|n| n.fid == fid))
    }

    /// The EF child of `df` with short id `sfi`.
    pub fn child_by_sfi(&self, df: usize, sfi: u8) -> Option<usize> {
        self.children(df).iter().copied().find(|c| {
            matches!(self.nodes.get(*c).map(|n| &n.kind), Some(NodeKind::Ef { sfi: Some(s), .. }) if *s == sfi)
        })
    }

    /// The DF whose name is `name`.
    pub fn df_by_name(&self, name: &[u8]) -> Option<usize> {
        if name.is_empty() {
            return None;
        }
        self.nodes
            .iter()
            .position(|n| matches!(&n.kind, NodeKind::Df { name: dn, .. } if dn == name))
    }

    /// Whether writes to node `i` are allowed: the node and every DF above it (the MF aside)
    /// are still in creation or initialisation state. Activation makes them read-only for good.
    pub fn writable(&self, i: usize) -> bool {
        let mut cur = Some(i);
        while let Some(c) = cur {
            let Some(n) = self.nodes.get(c) else {
                return false;
            };
            if n.parent.is_some() && !matches!(n.lcs, LCS_CREATION | LCS_INITIALISATION) {
                return false;
            }
            cur = n.parent;
        }
        true
    }

    /// EEPROM bytes in use.
    pub fn used(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| match &n.kind {
                NodeKind::Df { name, .. } => DF_OVERHEAD + name.len(),
                NodeKind::Ef { data, .. } => data.len(),
            })
            .sum()
    }

    /// Adds a node under `parent` and returns its index.
    pub fn add(&mut self, parent: usize, fid: u16, lcs: u8, kind: NodeKind) -> usize {
        let idx = self.nodes.len();
        self.nodes.push(Node {
            fid,
            parent: Some(parent),
            lcs,
            kind,
        });
        if let Some(Node {
            kind: NodeKind::Df { children, .. },
            ..
        }) = self.nodes.get_mut(parent)
        {
            children.push(idx);
        }
        idx
    }

    /// The first key with `reference` (0: any) in `df` or the DFs above it.
    pub fn find_key(&self, df: usize, reference: u8) -> Option<&Key> {
        let mut cur = Some(df);
        while let Some(c) = cur {
            let n = self.nodes.get(c)?;
            if let NodeKind::Df { keys, .. } = &n.kind
                && let Some(k) = keys
                    .iter()
                    .find(|k| reference == 0 || k.reference == reference)
            {
                return Some(k);
            }
            cur = n.parent;
        }
        None
    }
}
