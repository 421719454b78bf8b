//! Every tuned constant of the matcher, named, with its unit. Distances are in pixels at
//! 500 ppi (templates at other resolutions are scaled on preparation); angles in radians.
//! One parameter set serves every sensor.

use std::f32::consts::PI;

/// The resolution minutiae are scaled to before matching, in pixels per centimetre.
pub const MATCH_PPCM: f32 = 197.0;

// Cylinders (Cappelli, Ferrara, Maltoni 2010, "Minutia Cylinder-Code").

/// Cylinder radius, px.
pub const RADIUS: f32 = 70.0;
/// Spatial cells along each side of a cylinder's base.
pub const NS: usize = 16;
/// Angular sections of a cylinder.
pub const ND: usize = 6;
/// Spatial cell size, px.
pub const CELL: f32 = 2.0 * RADIUS / NS as f32;
/// Angular section height, rad.
pub const SECTION: f32 = 2.0 * PI / ND as f32;
/// Standard deviation of the spatial contribution, px.
pub const SIGMA_S: f32 = 28.0 / 3.0;
/// Standard deviation of the directional contribution, rad.
pub const SIGMA_D: f32 = 2.0 * PI / 9.0;
/// A cell's bit is set when its summed contribution exceeds this.
pub const MU_PSI: f32 = 0.01;
/// How far outside the minutiae's convex hull cells still count as valid, px.
pub const HULL_MARGIN: f32 = 50.0;
/// A cylinder is kept when at least this share of its base's cells is valid.
pub const MIN_VALID_CELLS: f32 = 0.75;
/// ...and at least this many other minutiae lie within reach of its cells.
pub const MIN_NEIGHBOURS: usize = 2;
/// Two cylinders are compared only when this share of their cells is valid in both.
pub const MIN_COMMON_CELLS: f32 = 0.6;
/// Two cylinders are compared only when their minutiae's directions differ by at most this.
pub const MAX_DIRECTION_DIFFERENCE: f32 = PI / 2.0;
/// [`MAX_DIRECTION_DIFFERENCE`] in binary angle units (1/256 turn).
pub const MAX_DIRECTION_UNITS: u8 = 64;

// Consolidation: local similarity sort with relaxation (LSS-R, same paper).

/// Fewest and most top pairs averaged into the score.
pub const MIN_NP: usize = 4;
/// See [`MIN_NP`].
pub const MAX_NP: usize = 12;
/// Sigmoid centre and slope that choose between them from the smaller minutia count.
pub const MU_P: f32 = 20.0;
/// See [`MU_P`].
pub const TAU_P: f32 = 0.4;
/// Relaxation iterations.
pub const RELAX_ITERATIONS: usize = 5;
/// Weight of a pair's own similarity in each relaxation step.
pub const RELAX_WEIGHT: f32 = 0.5;
/// Compatibility of two pairs: sigmoid centre and slope for the distance difference (px).
pub const RHO_DISTANCE: (f32, f32) = (5.0, -8.0 / 5.0);
/// ...for the direction difference (rad).
pub const RHO_DIRECTION: (f32, f32) = (PI / 12.0, -30.0);
/// ...for the radial angle difference (rad).
pub const RHO_RADIAL: (f32, f32) = (PI / 12.0, -30.0);

// Global consolidation (after LSS-R): mated minutiae under one rigid placement.

/// How many of the score's best pairs are tried as the anchor of the placement.
pub const GLOBAL_ANCHORS: usize = 5;
/// Two minutiae mate when, once placed, they are this close (px)...
pub const MATE_DISTANCE: f32 = 12.0;
/// ...plus this share of their distance from the anchor (skin stretches)...
pub const MATE_DISTANCE_PER_PX: f32 = 0.05;
/// ...and their directions differ by at most this (1/256 turns; 20 ≈ 28°).
pub const MATE_DIRECTION_UNITS: u8 = 20;
/// [`MATE_DISTANCE`] when both templates carry Daktilo's ridge-flow block: our extractor's
/// minutiae are placed on their skeleton pixel, where other vendors' templates (the FVC
/// SecuGen ones are stretched to 300 × 400 px) need the wider tolerance.
pub const OWN_MATE_DISTANCE: f32 = 9.0;
/// [`MATE_DIRECTION_UNITS`] when both templates carry the ridge flow (16 ≈ 22.5°).
pub const OWN_MATE_DIRECTION_UNITS: u8 = 16;
/// A minutia lies in the common area when it is this close to a minutia of the other
/// print once placed, px.
pub const COMMON_AREA_REACH: f32 = 35.0;
/// Fewest minutiae the common area is taken to hold (a tiny overlap proves little).
pub const COMMON_AREA_FLOOR: f32 = 12.0;
/// Exponent of the agreement (mated² / (common_a · common_b)) that scales the LSS-R score.
pub const GLOBAL_WEIGHT: f32 = 0.4;

// Ridge flow (`flow.rs`): local orientation descriptors around the minutiae.

/// Factor for a shortlisted pair whose descriptors share too few samples inside both prints
/// to be compared (the similarity of a compared pair runs from 0 to 1).
pub const FLOW_UNKNOWN: f32 = 0.5;

// Field check (after the global consolidation, with both prints' ridge flow): how alike the
// ridges run over the overlap of the best placement.

/// Field agreement (coherence-weighted mean cos 2Δ) at and below which the score keeps
/// only [`FIELD_FLOOR`] of itself; 1 keeps all of it, linearly between.
pub const FIELD_AGREEMENT_LOW: f32 = 0.6;
/// See [`FIELD_AGREEMENT_LOW`].
pub const FIELD_FLOOR: f32 = 0.1;

/// Step 7 (ridge counts between mates, both templates of our own extractor): the
/// log-likelihood ratio of a pair of mates whose ridge counts differ by 0, 1, 2, and 3 or
/// more ridges, genuine against impostor. Measured on the development fingers (101–105 of
/// the four FVC2002 B sets, every pair), where the differences' shares were
/// 0.624 / 0.314 / 0.050 / 0.011 between impressions of one finger and
/// 0.348 / 0.429 / 0.159 / 0.064 between different fingers.
pub const RIDGE_COUNT_EVIDENCE: [f32; 4] = [0.58, -0.31, -1.15, -1.72];
/// The evidence's weight in the score's logarithm...
pub const RIDGE_COUNT_SCALE: f32 = 0.1;
/// ...and its most (agreeing ridge counts lift a score by at most `e^0.1`, about 10 %).
pub const RIDGE_COUNT_CAP: f32 = 1.0;
