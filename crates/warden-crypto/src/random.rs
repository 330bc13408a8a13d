//! The one place randomness comes from: the operating system's CSPRNG, via `rand`'s
//! thread-local generator (ChaCha12 reseeded from the OS).

use rand::RngCore;

/// `N` fresh random bytes.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}
