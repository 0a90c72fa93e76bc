//! An image's size in pixels and its thumbnail, made once at upload (the console and the
//! widget show the thumbnail; the original is fetched only when someone opens it).
//!
//! Decoding is bounded: at most [`MAX_SIDE`] pixels a side and [`MAX_ALLOC`] bytes of
//! decoder memory, so that a small file declaring a huge picture (a decompression bomb) is
//! refused instead of exhausting memory. Only PNG, JPEG, GIF and WebP are built in.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader};

use crate::error::{AppError, AppResult};

/// Longest side of a thumbnail, in pixels.
pub const THUMB_SIDE: u32 = 320;
/// Longest side of an image accepted, in pixels.
pub const MAX_SIDE: u32 = 12_000;
/// Most memory the decoder may take for one image.
pub const MAX_ALLOC: u64 = 192 * 1024 * 1024;

/// An image's size and its thumbnail.
pub struct Thumbnail {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
    /// `image/png` when the image has transparency, else `image/jpeg`.
    pub content_type: &'static str,
}

/// Reads the image in `bytes` and makes its thumbnail (at most [`THUMB_SIDE`] a side, never
/// larger than the image). An image that cannot be read is `attachment_type_refused`.
pub fn make(bytes: &[u8]) -> AppResult<Thumbnail> {
    let refused = |e: image::ImageError| {
        AppError::AttachmentTypeRefused(format!("the image could not be read: {e}"))
    };
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| AppError::Internal(e.into()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let img = reader.decode().map_err(refused)?;
    let (width, height) = (img.width(), img.height());
    let small = if width > THUMB_SIDE || height > THUMB_SIDE {
        img.thumbnail(THUMB_SIDE, THUMB_SIDE)
    } else {
        img
    };
    let mut data = Vec::new();
    let content_type = if small.color().has_alpha() {
        small
            .write_to(&mut Cursor::new(&mut data), ImageFormat::Png)
            .map_err(|e| AppError::Internal(e.into()))?;
        "image/png"
    } else {
        let rgb = DynamicImage::ImageRgb8(small.to_rgb8());
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut data, 80);
        rgb.write_with_encoder(encoder)
            .map_err(|e| AppError::Internal(e.into()))?;
        "image/jpeg"
    };
    Ok(Thumbnail {
        width,
        height,
        data,
        content_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32, alpha: bool) -> Vec<u8> {
        let img = if alpha {
            DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
                w,
                h,
                image::Rgba([1, 2, 3, 4]),
            ))
        } else {
            DynamicImage::ImageRgb8(image::RgbImage::from_pixel(w, h, image::Rgb([9, 8, 7])))
        };
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .expect("encode");
        out
    }

    #[test]
    fn a_thumbnail_keeps_the_ratio_and_the_transparency() {
        let t = make(&png(1280, 640, false)).expect("thumbnail");
        assert_eq!(
            (t.width, t.height, t.content_type),
            (1280, 640, "image/jpeg")
        );
        let small = image::load_from_memory(&t.data).expect("decodes");
        assert_eq!((small.width(), small.height()), (320, 160));
        let t = make(&png(10, 20, true)).expect("thumbnail");
        assert_eq!((t.width, t.height, t.content_type), (10, 20, "image/png"));
    }

    #[test]
    fn a_picture_too_large_or_broken_is_refused() {
        // A PNG header declaring 60000 x 60000 pixels, with no pixels.
        let mut bomb = png(1, 1, false);
        bomb[16..20].copy_from_slice(&60_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&60_000u32.to_be_bytes());
        let refused = |b: &[u8]| make(b).err().map(|e| e.code());
        assert_eq!(refused(&bomb), Some("attachment_type_refused"));
        assert_eq!(
            refused(b"\x89PNG\r\n\x1a\nnot really"),
            Some("attachment_type_refused")
        );
    }
}
