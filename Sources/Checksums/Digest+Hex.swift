import Crypto

extension Digest {
    /// The digest in lower-case hexadecimal (64 characters for SHA-256, 32 for MD5), as `sha256sum`
    /// and `md5sum` print it and as checkpoints and dataset manifests record it.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(2 * Self.byteCount)
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
