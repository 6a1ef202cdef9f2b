/// A picture being drawn: `width`×`height` 8-bit RGB pixels, rows top first (what ``PNGWriter`` takes).
public struct RGBCanvas: Sendable {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// Pixels, width·3 bytes a row.
    public private(set) var rgb: [UInt8]

    /// A canvas filled with `background` (r, g, b).
    public init(width: Int, height: Int, background: (UInt8, UInt8, UInt8)) {
        precondition(width > 0 && height > 0, "canvas \(width)x\(height)")
        self.width = width
        self.height = height
        rgb = [UInt8](repeating: 0, count: width * height * 3)
        fill(x: 0, y: 0, width: width, height: height, color: background)
    }

    /// Fills the rectangle (clipped to the canvas) with `color`.
    public mutating func fill(x: Int, y: Int, width: Int, height: Int, color: (UInt8, UInt8, UInt8)) {
        for row in max(0, y) ..< min(self.height, y + height) {
            for column in max(0, x) ..< min(self.width, x + width) {
                let offset = (row * self.width + column) * 3
                rgb[offset] = color.0
                rgb[offset + 1] = color.1
                rgb[offset + 2] = color.2
            }
        }
    }

    /// The colour at (x, y).
    public func pixel(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        let offset = (y * width + x) * 3
        return (rgb[offset], rgb[offset + 1], rgb[offset + 2])
    }
}
