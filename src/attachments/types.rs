//! What an upload is checked against: the content types accepted (read from the file's
//! bytes, never from the name or the declared type), how a file's name is cleaned, and the
//! id an attachment goes by.

use crate::error::{AppError, AppResult};

/// How many leading bytes are read to tell a file's type.
pub const SNIFF_BYTES: usize = 8 * 1024;

/// The image types shown inline (and given a thumbnail): what the `image` crate is built
/// to read, and what every browser shows.
pub const INLINE_IMAGES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Types accepted besides the inline images, as `infer` names them.
const ACCEPTED: [&str; 24] = [
    "application/pdf",
    "application/zip",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "audio/mpeg",
    "audio/ogg",
    "audio/opus",
    "audio/x-wav",
    "audio/m4a",
    "audio/aac",
    "audio/x-flac",
    "video/mp4",
    "video/webm",
    "video/quicktime",
    "video/x-m4v",
    "video/mpeg",
    TEXT_PLAIN,
];

/// Plain text: what a file without a known signature is taken for when it is UTF-8.
pub const TEXT_PLAIN: &str = "text/plain";

/// The content type of a file that starts with `prefix` (its first [`SNIFF_BYTES`], or all
/// of it), if it is one chatdesk accepts:
/// - a known signature (`infer`) on the allow-list: that type, whatever the name or the
///   declared type say (a PNG named `.pdf` is an `image/png`);
/// - no known signature: `text/plain` when the bytes are UTF-8 without NUL and do not start
///   with `<` (HTML, XML and SVG are markup, refused);
/// - anything else (executables, archives other than zip, HTML, SVG, ...) is refused, and
///   so is a file declared as an image whose bytes are not one of [`INLINE_IMAGES`].
pub fn sniff(prefix: &[u8], declared: Option<&str>) -> AppResult<&'static str> {
    let refused = |what: &str| {
        AppError::AttachmentTypeRefused(format!(
            "{what} is not accepted: images (PNG, JPEG, GIF, WebP), PDF, office documents, \
             zip, audio, video and plain text are"
        ))
    };
    let found = match infer::get(prefix) {
        Some(t) => {
            let mime = t.mime_type();
            INLINE_IMAGES
                .iter()
                .chain(ACCEPTED.iter())
                .find(|m| **m == mime)
                .copied()
                .ok_or_else(|| refused(&format!("this file ({mime})")))?
        }
        None if is_plain_text(prefix) => TEXT_PLAIN,
        None => return Err(refused("this file's type")),
    };
    let declared_image =
        declared.is_some_and(|d| d.trim().to_ascii_lowercase().starts_with("image/"));
    if declared_image && !INLINE_IMAGES.contains(&found) {
        return Err(AppError::AttachmentTypeRefused(format!(
            "the file is declared as an image but its bytes are {found}"
        )));
    }
    Ok(found)
}

/// UTF-8 (a character cut at the end of the prefix is fine), no NUL, not markup.
fn is_plain_text(prefix: &[u8]) -> bool {
    let text = match std::str::from_utf8(prefix) {
        Ok(t) => t,
        // Only an incomplete last character (at most 3 bytes) is forgiven.
        Err(e) if e.error_len().is_none() && prefix.len() - e.valid_up_to() < 4 => {
            std::str::from_utf8(&prefix[..e.valid_up_to()]).unwrap_or("")
        }
        Err(_) => return false,
    };
    !text.contains('\0') && !text.trim_start().starts_with('<')
}

/// Whether files of this type are shown in the page (`Content-Disposition: inline`).
pub fn is_inline(content_type: &str) -> bool {
    INLINE_IMAGES.contains(&content_type)
}

/// Longest file name kept, in characters.
pub const NAME_CHARS: usize = 200;

/// A file name as the uploader gave it, made safe to keep and show: the last path segment
/// only, without control characters, at most [`NAME_CHARS`] characters; `file` when
/// nothing is left. (Clients show it as text, never as HTML.)
pub fn clean_name(given: Option<&str>) -> String {
    let given = given.unwrap_or("");
    let last = given.rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(NAME_CHARS)
        .collect();
    let name = name.trim();
    if name.is_empty() || name == "." || name == ".." {
        "file".into()
    } else {
        name.to_string()
    }
}

/// A new attachment's id: 128 random bits, as 32 lowercase hex digits.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The `Content-Disposition` of a download: `inline` for the inline images, `attachment`
/// otherwise, with the name as an RFC 6266 / RFC 5987 `filename*` (and an ASCII fallback).
pub fn content_disposition(content_type: &str, name: &str) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let kind = if is_inline(content_type) {
        "inline"
    } else {
        "attachment"
    };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(name, NON_ALPHANUMERIC);
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

    #[test]
    fn the_bytes_decide_the_type() {
        assert_eq!(sniff(PNG, Some("application/pdf")).ok(), Some("image/png"));
        assert_eq!(sniff(b"%PDF-1.7\n", None).ok(), Some("application/pdf"));
        assert_eq!(sniff(b"hello, world\n", None).ok(), Some("text/plain"));
        assert_eq!(
            sniff("d\u{e9}j\u{e0}".as_bytes(), Some("text/plain")).ok(),
            Some("text/plain")
        );
        // a character cut by the end of the sniffed prefix is still text
        assert_eq!(sniff(&"é".as_bytes()[..1], None).ok(), Some("text/plain"));
    }

    #[test]
    fn markup_executables_and_fake_images_are_refused() {
        let code = |b: &[u8], d: Option<&str>| sniff(b, d).err().map(|e| e.code());
        let refused = Some("attachment_type_refused");
        assert_eq!(
            code(b"<html><script>alert(1)</script>", Some("image/png")),
            refused
        );
        assert_eq!(code(b"<!DOCTYPE html><p>x", None), refused);
        assert_eq!(
            code(b"  <svg xmlns='http://www.w3.org/2000/svg'/>", None),
            refused
        );
        assert_eq!(code(b"<?xml version='1.0'?><a/>", None), refused);
        assert_eq!(code(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff", None), refused);
        assert_eq!(code(b"\x7fELF\x02\x01\x01\0", None), refused);
        assert_eq!(code(b"plain words", Some("image/jpeg")), refused);
        assert_eq!(code(b"%PDF-1.4", Some("image/png")), refused);
        assert_eq!(code(b"\xff\xfe\0\0binary", None), refused);
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(clean_name(Some("C:\\Users\\me\\report.pdf")), "report.pdf");
        assert_eq!(clean_name(Some("a\u{0}b\nc.txt")), "abc.txt");
        assert_eq!(clean_name(Some("  ")), "file");
        assert_eq!(clean_name(Some("..")), "file");
        assert_eq!(clean_name(None), "file");
        assert_eq!(
            clean_name(Some(&"n".repeat(300))).chars().count(),
            NAME_CHARS
        );
        assert_eq!(clean_name(Some("<img src=x>.png")), "<img src=x>.png");
    }

    #[test]
    fn downloads_are_attachments_except_inline_images() {
        assert_eq!(
            content_disposition("application/pdf", "Q3 \"report\".pdf"),
            "attachment; filename=\"Q3 _report_.pdf\"; filename*=UTF-8''Q3%20%22report%22%2Epdf"
        );
        assert!(content_disposition("image/png", "é.png").starts_with("inline; filename=\"_.png\""));
        assert!(content_disposition("text/plain", "a.txt").starts_with("attachment;"));
    }
}
