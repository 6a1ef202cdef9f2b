/// The shape of one image: height × width × channels, stored channel-last (HWC, as in NHWC batches).
public struct ImageShape: Equatable, Hashable, Sendable, Codable, CustomStringConvertible {
    /// Rows.
    public let height: Int
    /// Columns.
    public let width: Int
    /// Channels (1 grey, 3 RGB).
    public let channels: Int

    /// An image shape; all sizes must be positive.
    public init(height: Int, width: Int, channels: Int) {
        precondition(height > 0 && width > 0 && channels > 0, "image shape \(height)x\(width)x\(channels)")
        self.height = height
        self.width = width
        self.channels = channels
    }

    /// Values per image: height · width · channels.
    public var elementCount: Int { height * width * channels }

    /// `HxWxC`, e.g. `32x32x3`.
    public var description: String { "\(height)x\(width)x\(channels)" }
}
