import ImageWriting

/// A labelled grid of sample images, one row per class, for looking at data before training on it.
///
///     ┌──────────────┬─────┬─────┬─────┐
///     │ 0 AIRPLANE   │ img │ img │ img │   the first `perClass` images of each class, in file order
///     │ 1 AUTOMOBILE │ img │ img │ img │
///     └──────────────┴─────┴─────┴─────┘
public enum ImageGrid {
    /// Draws rows for classes `classes` (labels) of `dataset`, `perClass` images each, every pixel
    /// `scale`×`scale`, with the label and class name in the left column.
    public static func render(_ dataset: ImageDataset, classes: [Int], perClass: Int, scale: Int) -> RGBCanvas {
        precondition(perClass >= 1 && scale >= 1 && !classes.isEmpty, "grid of \(classes.count) classes x \(perClass)")
        let textScale = max(1, min(3, dataset.shape.height * scale / (BitmapFont.glyphHeight * 2)))
        let labels = classes.map { "\($0) \(dataset.classNames[$0])" }
        let gap = 2 * scale
        let labelWidth = labels.map { BitmapFont.width(of: $0, scale: textScale) }.max()! + 2 * gap
        let cellWidth = dataset.shape.width * scale, cellHeight = dataset.shape.height * scale
        let rowHeight = max(cellHeight, BitmapFont.glyphHeight * textScale) + gap
        var canvas = RGBCanvas(width: labelWidth + perClass * (cellWidth + gap) + gap,
                               height: classes.count * rowHeight + gap, background: (32, 32, 32))
        var firstImages = [Int: [Int]]()
        let wanted = Set(classes)
        for (index, label) in dataset.labels.enumerated() where wanted.contains(Int(label)) {
            if firstImages[Int(label), default: []].count < perClass { firstImages[Int(label), default: []].append(index) }
        }
        for (row, label) in classes.enumerated() {
            let top = gap + row * rowHeight
            BitmapFont.draw(labels[row], on: &canvas, x: gap,
                            y: top + max(0, (cellHeight - BitmapFont.glyphHeight * textScale) / 2),
                            scale: textScale, color: (240, 240, 240))
            for (column, index) in (firstImages[label] ?? []).enumerated() {
                canvas.drawImage(dataset, index: index, x: labelWidth + column * (cellWidth + gap), y: top, scale: scale)
            }
        }
        return canvas
    }
}
