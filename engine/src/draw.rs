//! Marks drawn on pictures of prints: the extractor's debug pictures and the examiner's
//! side-by-side view share these.

use ::image::{Rgb, RgbImage};

/// Sets one pixel, if it lies in the picture.
fn put(img: &mut RgbImage, x: f32, y: f32, colour: [u8; 3]) {
    let (x, y) = (x.round(), y.round());
    if x >= 0.0 && y >= 0.0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, Rgb(colour));
    }
}

/// A straight line from `a` to `b` (pixel coordinates), clipped to the picture.
pub fn line(img: &mut RgbImage, a: (f32, f32), b: (f32, f32), colour: [u8; 3]) {
    let steps = (b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil().max(1.0) as usize;
    for i in 0..=steps {
        let t = i as f32 / steps as f32;
        put(img, a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t, colour);
    }
}

/// A circle of radius `r` around `centre`, clipped to the picture.
pub fn circle(img: &mut RgbImage, centre: (f32, f32), r: f32, colour: [u8; 3]) {
    let n = (r * 8.0).ceil().max(8.0) as usize;
    for i in 0..n {
        let a = i as f32 * std::f32::consts::TAU / n as f32;
        put(img, centre.0 + r * a.cos(), centre.1 + r * a.sin(), colour);
    }
}

/// A minutia: a circle and a tick along its direction `angle` (radians, image coordinates,
/// clockwise on screen).
pub fn minutia(img: &mut RgbImage, at: (f32, f32), angle: f32, colour: [u8; 3]) {
    circle(img, at, 4.0, colour);
    line(
        img,
        at,
        (at.0 + 12.0 * angle.cos(), at.1 + 12.0 * angle.sin()),
        colour,
    );
}
