import ImageWriting

extension RGBCanvas {
    /// Draws image `index` of `dataset` with its top-left corner at (x, y), each pixel as a
    /// `scale`×`scale` square (grey images as grey RGB).
    public mutating func drawImage(_ dataset: ImageDataset, index: Int, x: Int, y: Int, scale: Int) {
        let shape = dataset.shape
        let base = index * shape.elementCount
        for row in 0..<shape.height {
            for column in 0..<shape.width {
                let pixel = base + (row * shape.width + column) * shape.channels
                let color = shape.channels >= 3
                    ? (dataset.pixels[pixel], dataset.pixels[pixel + 1], dataset.pixels[pixel + 2])
                    : (dataset.pixels[pixel], dataset.pixels[pixel], dataset.pixels[pixel])
                fill(x: x + column * scale, y: y + row * scale, width: scale, height: scale, color: color)
            }
        }
    }
}
