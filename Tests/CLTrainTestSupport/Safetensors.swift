/// The header length a safetensors file starts with: its first 8 bytes, little-endian.
public func safetensorsHeaderLength(_ file: some Sequence<UInt8>) -> UInt64 {
    file.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
}
