//! Every tuned constant of the extractor, named, with its unit. Distances are pixels at
//! 500 ppi (images are resampled to 500 ppi first). One parameter set serves every sensor.

/// Side of the square blocks that segmentation, orientation and frequency work on, px.
pub const BLOCK: usize = 8;

// Segmentation.
/// Radius (in blocks) of the window over which a block's grey-level spread is measured.
pub const SEGMENT_WINDOW_BLOCKS: usize = 1;
/// A block is foreground when its spread exceeds this share of the image's typical
/// (90th percentile) block spread...
pub const SEGMENT_RELATIVE: f32 = 0.35;
/// ...and at least this many grey levels.
pub const SEGMENT_MIN_STD: f32 = 6.0;
/// Majority-vote smoothing passes over the block mask.
pub const SEGMENT_SMOOTHING: usize = 2;
/// A block whose own pixels average darker than this (grey levels)...
pub const VOID_MEAN: f32 = 16.0;
/// ...and spread less than this is black and flat: no ridges, only a hole in the card, a
/// strip of tape or a blot that saturated the scan...
pub const VOID_STD: f32 = 4.0;
/// ...and where at least this many such blocks touch (side by side), they are a void:
/// background even where the print surrounds them, whose other holes (a dry patch, a
/// scar) the mask fills. The NIST ten-print card's slaps each hold a punched hole of about
/// 160 such blocks, one of them in the right index finger's plain impression; FVC2002's
/// 320 B images hold at most 6 in an image (saturated wet patches), so no FVC2002 mask
/// changes.
pub const VOID_MIN_BLOCKS: usize = 32;

// Orientation.
/// Standard deviation of the Gaussian that smooths the image before its gradients are
/// taken, px: dotted and blotchy ridges then give gradients across the ridge rather than
/// around each dot.
pub const ORIENTATION_PRESMOOTH_PX: f32 = 0.7;
/// Standard deviation of the Gaussian that smooths the squared-gradient field, in blocks.
pub const ORIENTATION_SIGMA_BLOCKS: f32 = 1.5;
/// ...and of the coarse field used where the fine one is unreliable.
pub const ORIENTATION_COARSE_SIGMA_BLOCKS: f32 = 3.0;
/// Below this coherence the fine field is blended towards the coarse one.
pub const ORIENTATION_RELIABLE: f32 = 0.7;

/// Below this mean coherence (see `quality::clarity`) the image holds no fingerprint:
/// extraction returns no minutiae and quality 0.
pub const MIN_CLARITY: f32 = 0.18;

// Frequency.
/// Length of the oriented window across the ridges, px.
pub const FREQUENCY_WINDOW: usize = 32;
/// Width of that window along the ridges, px.
pub const FREQUENCY_WIDTH: usize = 16;
/// Plausible ridge periods at 500 ppi, px.
pub const PERIOD_RANGE: (f32, f32) = (4.0, 16.0);
/// Standard deviation of the Gaussian that smooths the period field, in blocks.
pub const FREQUENCY_SIGMA_BLOCKS: f32 = 2.0;
/// The ridge periods whose sinusoids the ridge signal tries, px.
pub const RIDGE_SIGNAL_PERIODS: [f32; 10] = [5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0];
/// Foreground blocks whose ridge signal, averaged over the foreground blocks within this
/// radius (in blocks)...
pub const RIDGE_SIGNAL_RADIUS: usize = 2;
/// ...falls below this hold no ridge pattern and become background (see
/// `segmentation::keep_ridges`). FVC2002's blocks score a median of 0.64–0.73 per set, and
/// 0.01–0.8 % of them average below 0.25; of the NIST ten-print card's twenty prints,
/// 10 % (captions, handwriting, bare card). Chosen on the development fingers
/// (docs/extraction.md, "Ridges, not ink").
pub const RIDGE_SIGNAL_MIN: f32 = 0.25;

// Enhancement (Gabor filter bank).
/// Orientations in the filter bank.
pub const GABOR_ORIENTATIONS: usize = 16;
/// Ridge periods in the filter bank, px, evenly spaced over this range.
pub const GABOR_PERIODS: (f32, f32, usize) = (5.0, 14.0, 10);
/// Kernel radius, px.
pub const GABOR_RADIUS: usize = 7;
/// Gaussian envelope, as a multiple of the period: across the ridges...
pub const GABOR_SIGMA_ACROSS: f32 = 0.45;
/// ...and along them.
pub const GABOR_SIGMA_ALONG: f32 = 0.55;

// Binarisation.
/// Ridge specks smaller than this are removed, px².
pub const MIN_RIDGE_AREA: usize = 30;
/// Holes in ridges smaller than this are filled, px².
pub const MIN_VALLEY_AREA: usize = 30;

// Minutiae.
/// Minutiae closer than this to the background are dropped, px.
pub const BORDER_MARGIN: f32 = 14.0;
/// Skeleton steps traced from a minutia to find its direction, px.
pub const DIRECTION_TRACE: usize = 10;
/// A branch shorter than this between an ending and a bifurcation is a spur, px.
pub const SPUR_LENGTH: usize = 12;
/// A ridge shorter than this between two endings is an island, px.
pub const ISLAND_LENGTH: usize = 16;
/// Two endings closer than this, facing each other, are a broken ridge, px.
pub const BREAK_DISTANCE: f32 = 16.0;
/// Two bifurcations closer than this are a bridge or a hole, px.
pub const BRIDGE_DISTANCE: f32 = 10.0;
/// More than two other minutiae within this distance make a cluster, px.
pub const CLUSTER_DISTANCE: f32 = 12.0;
/// Minutiae kept at most, the most the formats hold (ISO/IEC 19794-2 and ANSI INCITS 378
/// count them in one byte). When a print has more, those of lowest quality go. Until the
/// thirty-second session the cap was 150, which only rolled prints reached (no FVC2002
/// print did): on NIST's ten-print card nine of the ten rolled prints were cut to 150,
/// and the faintest plain tip scored 7.1 against its rolled print (20.2 with this cap;
/// docs/extraction.md, "Rolled prints keep their minutiae").
pub const MAX_MINUTIAE: usize = u8::MAX as usize;

// Ridge counts.
/// Ridge counts are taken from each minutia to this many nearest neighbours...
pub const RIDGE_COUNT_NEIGHBOURS: usize = 8;
/// ...within this distance, px.
pub const RIDGE_COUNT_REACH: f32 = 120.0;
/// Ridge pixels this close to either end of the line belong to the minutiae's own ridges
/// and are not counted, px.
pub const RIDGE_COUNT_END_SKIP: f32 = 3.0;
