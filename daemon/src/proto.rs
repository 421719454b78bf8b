//! The generated gRPC contract (`proto/daktilo/v1/daktilo.proto`).

#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("daktilo.v1");

/// The encoded descriptor set of the contract, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/daktilo_descriptor.bin"));
