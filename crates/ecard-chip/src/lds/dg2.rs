//! DG2: the face image (tag `75`), an ICAO biometric information template around one
//! ISO/IEC 19794-5:2005 facial record with a JPEG.
//!
//! Layout: `75 { 7F61 { 02 count, 7F60 { A1 { [80 version] [81 type] ... 87 owner, 88 format },
//! 5F2E record } } }`. The record is `FAC\0`, `010\0`, record length (4), image count (2), then one
//! facial block: block length (4), feature point count (2), gender, eye colour, hair colour, feature
//! mask (3), expression (2), pose angles (3), pose uncertainties (3), feature points (8 each), then the
//! image information: face image type, image data type, width (2), height (2), colour space, source
//! type, device type (2), quality (2), and the image bytes. This module does not decode the JPEG.

use super::util::{outer, prim};
use super::{EfId, LdsError};
use crate::tlv::{self, constructed, primitive};

const FILE: EfId = EfId::Dg2;
const RECORD_TAG: u32 = 0x5F2E;
/// Facial record header bytes before the first facial block.
const RECORD_HEADER: usize = 14;
/// Facial information bytes before feature points.
const FACE_INFO: usize = 20;
/// Image information bytes before the image.
const IMAGE_INFO: usize = 12;

/// The biometric header template `A1` of the one face.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BiometricHeader {
    /// `80`: ICAO header version, optional.
    pub version: Option<Vec<u8>>,
    /// `81`: biometric type (`02` facial features), optional.
    pub biometric_type: Option<Vec<u8>>,
    /// Other optional elements `82`..`86` (subtype, creation date, validity, creator), in order.
    pub other: Vec<(u8, Vec<u8>)>,
    /// `87`: format owner (`0101` = ISO/IEC JTC 1/SC 37).
    pub format_owner: Vec<u8>,
    /// `88`: format type (`0008` = face image per 19794-5).
    pub format_type: Vec<u8>,
}

impl Default for BiometricHeader {
    /// The header ECARD.md section 4 asks for: owner `0101`, format `0008`, nothing optional.
    fn default() -> Self {
        BiometricHeader {
            version: None,
            biometric_type: None,
            other: Vec::new(),
            format_owner: vec![0x01, 0x01],
            format_type: vec![0x00, 0x08],
        }
    }
}

/// One ISO/IEC 19794-5:2005 facial record with its image.
#[derive(Clone, PartialEq, Eq)]
pub struct FaceImage {
    /// 0 unspecified, 1 male, 2 female, 3 unknown.
    pub gender: u8,
    /// Eye colour code.
    pub eye_colour: u8,
    /// Hair colour code.
    pub hair_colour: u8,
    /// Feature mask (3 bytes).
    pub feature_mask: [u8; 3],
    /// Expression code.
    pub expression: u16,
    /// Pose angles yaw, pitch, roll.
    pub pose_angle: [u8; 3],
    /// Pose angle uncertainties.
    pub pose_angle_uncertainty: [u8; 3],
    /// Feature points, 8 bytes each, kept as stored.
    pub feature_points: Vec<[u8; 8]>,
    /// Face image type (1 = full frontal).
    pub face_image_type: u8,
    /// Image data type (0 = JPEG, 1 = JPEG 2000).
    pub image_data_type: u8,
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// Image colour space (1 = 24-bit RGB).
    pub colour_space: u8,
    /// Source type (2 = digital still camera).
    pub source_type: u8,
    /// Device type.
    pub device_type: u16,
    /// Quality.
    pub quality: u16,
    /// The encoded image.
    pub image: Vec<u8>,
}

// A photo is personal data: Debug shows sizes only.
impl std::fmt::Debug for FaceImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceImage")
            .field("image_data_type", &self.image_data_type)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("image_len", &self.image.len())
            .finish_non_exhaustive()
    }
}

impl FaceImage {
    /// A full-frontal JPEG from a digital still camera, 24-bit RGB. `sex` is the MRZ sex (`M`, `F`
    /// or `<`).
    pub fn jpeg(jpeg: Vec<u8>, width: u16, height: u16, sex: char) -> Self {
        FaceImage {
            gender: match sex {
                'M' => 1,
                'F' => 2,
                _ => 0,
            },
            eye_colour: 0,
            hair_colour: 0,
            feature_mask: [0; 3],
            expression: 0,
            pose_angle: [0; 3],
            pose_angle_uncertainty: [0; 3],
            feature_points: Vec::new(),
            face_image_type: 1,
            image_data_type: 0,
            width,
            height,
            colour_space: 1,
            source_type: 2,
            device_type: 0,
            quality: 0,
            image: jpeg,
        }
    }

    /// The 19794-5 record bytes.
    pub fn record(&self) -> Vec<u8> {
        let block_len = FACE_INFO + 8 * self.feature_points.len() + IMAGE_INFO + self.image.len();
        let record_len = RECORD_HEADER + block_len;
        let mut r = Vec::with_capacity(record_len);
        r.extend_from_slice(b"FAC\x00");
        r.extend_from_slice(b"010\x00");
        r.extend_from_slice(&(record_len as u32).to_be_bytes());
        r.extend_from_slice(&1u16.to_be_bytes());
        r.extend_from_slice(&(block_len as u32).to_be_bytes());
        r.extend_from_slice(&(self.feature_points.len() as u16).to_be_bytes());
        r.extend_from_slice(&[self.gender, self.eye_colour, self.hair_colour]);
        r.extend_from_slice(&self.feature_mask);
        r.extend_from_slice(&self.expression.to_be_bytes());
        r.extend_from_slice(&self.pose_angle);
        r.extend_from_slice(&self.pose_angle_uncertainty);
        for p in &self.feature_points {
            r.extend_from_slice(p);
        }
        r.extend_from_slice(&[self.face_image_type, self.image_data_type]);
        r.extend_from_slice(&self.width.to_be_bytes());
        r.extend_from_slice(&self.height.to_be_bytes());
        r.extend_from_slice(&[self.colour_space, self.source_type]);
        r.extend_from_slice(&self.device_type.to_be_bytes());
        r.extend_from_slice(&self.quality.to_be_bytes());
        r.extend_from_slice(&self.image);
        r
    }

    /// Parses a 19794-5:2005 record holding exactly one facial image.
    pub fn parse_record(r: &[u8]) -> Result<Self, LdsError> {
        let bad = |problem: String| LdsError::Element {
            file: FILE,
            tag: RECORD_TAG,
            name: "facial record",
            problem,
        };
        if r.len() < RECORD_HEADER + FACE_INFO + IMAGE_INFO {
            return Err(bad(format!(
                "is {} bytes, shorter than the {} bytes of headers",
                r.len(),
                RECORD_HEADER + FACE_INFO + IMAGE_INFO
            )));
        }
        if &r[0..4] != b"FAC\0" {
            return Err(bad("does not start with format identifier FAC\\0".into()));
        }
        if &r[4..8] != b"010\0" {
            return Err(bad("has a version other than 010\\0 (19794-5:2005)".into()));
        }
        let u16_at = |i: usize| u16::from_be_bytes([r[i], r[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]) as usize;
        let record_len = u32_at(8);
        if record_len != r.len() {
            return Err(bad(format!(
                "says record length {record_len}, the element holds {}",
                r.len()
            )));
        }
        let count = u16_at(12);
        if count != 1 {
            return Err(bad(format!("holds {count} facial images, expected 1")));
        }
        let b = RECORD_HEADER;
        let block_len = u32_at(b);
        if block_len != r.len() - RECORD_HEADER {
            return Err(bad(format!(
                "says facial block length {block_len}, expected {}",
                r.len() - RECORD_HEADER
            )));
        }
        let points = usize::from(u16_at(b + 4));
        let info = b + FACE_INFO + 8 * points;
        if info + IMAGE_INFO > r.len() {
            return Err(bad(format!(
                "says {points} feature points, more than the record holds"
            )));
        }
        let feature_points = (0..points)
            .map(|k| {
                let s = b + FACE_INFO + 8 * k;
                let mut p = [0u8; 8];
                p.copy_from_slice(&r[s..s + 8]);
                p
            })
            .collect();
        let image = r[info + IMAGE_INFO..].to_vec();
        if image.is_empty() {
            return Err(bad("holds no image data".into()));
        }
        let image_data_type = r[info + 1];
        if image_data_type > 1 {
            return Err(bad(format!(
                "has image data type {image_data_type}, expected 0 (JPEG) or 1 (JPEG 2000)"
            )));
        }
        Ok(FaceImage {
            gender: r[b + 6],
            eye_colour: r[b + 7],
            hair_colour: r[b + 8],
            feature_mask: [r[b + 9], r[b + 10], r[b + 11]],
            expression: u16_at(b + 12),
            pose_angle: [r[b + 14], r[b + 15], r[b + 16]],
            pose_angle_uncertainty: [r[b + 17], r[b + 18], r[b + 19]],
            feature_points,
            face_image_type: r[info],
            image_data_type,
            width: u16_at(info + 2),
            height: u16_at(info + 4),
            colour_space: r[info + 6],
            source_type: r[info + 7],
            device_type: u16_at(info + 8),
            quality: u16_at(info + 10),
            image,
        })
    }
}

/// The content of DG2: one biometric header and one face.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dg2 {
    /// The biometric header template.
    pub header: BiometricHeader,
    /// The facial record.
    pub face: FaceImage,
}

impl Dg2 {
    /// The file's bytes: one TLV `75`.
    pub fn build(&self) -> Vec<u8> {
        let h = &self.header;
        let mut header = Vec::new();
        if let Some(v) = &h.version {
            header.push(primitive(0x80, v.clone()));
        }
        if let Some(v) = &h.biometric_type {
            header.push(primitive(0x81, v.clone()));
        }
        // Only `82`..`86` are header elements between the type and the owner; others are skipped.
        for (t, v) in h.other.iter().filter(|(t, _)| (0x82..=0x86).contains(t)) {
            header.push(primitive(u32::from(*t), v.clone()));
        }
        header.push(primitive(0x87, h.format_owner.clone()));
        header.push(primitive(0x88, h.format_type.clone()));
        tlv::encode(&constructed(
            FILE.tag(),
            vec![constructed(
                0x7F61,
                vec![
                    primitive(0x02, vec![1]),
                    constructed(
                        0x7F60,
                        vec![
                            constructed(0xA1, header),
                            primitive(RECORD_TAG, self.face.record()),
                        ],
                    ),
                ],
            )],
        ))
    }

    /// Parses DG2: one biometric information group template holding exactly one face.
    pub fn parse(bytes: &[u8]) -> Result<Self, LdsError> {
        let t = outer(FILE, bytes)?;
        let group = only_child(&t, 0x7F61, "biometric information group template")?;
        let kids = tlv::children(group);
        let (count, rest) = kids.split_first().ok_or(LdsError::Missing {
            file: FILE,
            tag: 0x02,
            name: "number of instances",
        })?;
        if tlv::tag_number(count.tag()) != 0x02 {
            return Err(LdsError::Missing {
                file: FILE,
                tag: 0x02,
                name: "number of instances",
            });
        }
        let n = prim(FILE, count, "number of instances")?;
        if n != [1] {
            return Err(LdsError::Element {
                file: FILE,
                tag: 0x02,
                name: "number of instances",
                problem: "is not 1 (the e-card holds one face)".into(),
            });
        }
        let [bit] = rest else {
            return Err(LdsError::Element {
                file: FILE,
                tag: 0x7F61,
                name: "biometric information group template",
                problem: format!("holds {} templates, expected 1", rest.len()),
            });
        };
        if tlv::tag_number(bit.tag()) != 0x7F60 {
            return Err(LdsError::Unexpected {
                file: FILE,
                tag: tlv::tag_number(bit.tag()),
            });
        }
        let [bht, bdb] = tlv::children(bit) else {
            return Err(LdsError::Element {
                file: FILE,
                tag: 0x7F60,
                name: "biometric information template",
                problem: "does not hold exactly a header and a data block".into(),
            });
        };
        if tlv::tag_number(bht.tag()) != 0xA1 {
            return Err(LdsError::Missing {
                file: FILE,
                tag: 0xA1,
                name: "biometric header template",
            });
        }
        let header = parse_header(bht)?;
        let bdb_tag = tlv::tag_number(bdb.tag());
        if bdb_tag != RECORD_TAG {
            return Err(LdsError::Unexpected {
                file: FILE,
                tag: bdb_tag,
            });
        }
        let face = FaceImage::parse_record(prim(FILE, bdb, "facial record")?)?;
        Ok(Dg2 { header, face })
    }
}

fn only_child<'a>(
    t: &'a tlv::Tlv,
    want: u32,
    name: &'static str,
) -> Result<&'a tlv::Tlv, LdsError> {
    match tlv::children(t) {
        [c] if tlv::tag_number(c.tag()) == want => Ok(c),
        [c] => Err(LdsError::Unexpected {
            file: FILE,
            tag: tlv::tag_number(c.tag()),
        }),
        _ => Err(LdsError::Missing {
            file: FILE,
            tag: want,
            name,
        }),
    }
}

fn parse_header(bht: &tlv::Tlv) -> Result<BiometricHeader, LdsError> {
    let mut h = BiometricHeader {
        version: None,
        biometric_type: None,
        other: Vec::new(),
        format_owner: Vec::new(),
        format_type: Vec::new(),
    };
    let (mut owner, mut format) = (None, None);
    let mut last = 0u32;
    for c in tlv::children(bht) {
        let tag = tlv::tag_number(c.tag());
        // ISO/IEC 7816-11 orders the header's elements by tag; a repeat or a step back is malformed.
        if tag <= last {
            return Err(LdsError::Element {
                file: FILE,
                tag: 0xA1,
                name: "biometric header template",
                problem: format!("has element {tag:02X} out of order or twice"),
            });
        }
        last = tag;
        let v = prim(FILE, c, "biometric header element")?.to_vec();
        match tag {
            0x80 => h.version = Some(v),
            0x81 => h.biometric_type = Some(v),
            0x82..=0x86 => h.other.push((tag as u8, v)),
            0x87 => owner = Some(v),
            0x88 => format = Some(v),
            _ => return Err(LdsError::Unexpected { file: FILE, tag }),
        }
    }
    h.format_owner = owner.ok_or(LdsError::Missing {
        file: FILE,
        tag: 0x87,
        name: "format owner",
    })?;
    h.format_type = format.ok_or(LdsError::Missing {
        file: FILE,
        tag: 0x88,
        name: "format type",
    })?;
    if h.format_owner.len() != 2 || h.format_type.len() != 2 {
        return Err(LdsError::Element {
            file: FILE,
            tag: 0xA1,
            name: "biometric header template",
            problem: "has a format owner or type that is not 2 bytes".into(),
        });
    }
    Ok(h)
}
