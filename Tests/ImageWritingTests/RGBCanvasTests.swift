import ImageWriting
import XCTest

final class RGBCanvasTests: XCTestCase {
    func testFillIsClippedToTheCanvas() {
        var canvas = RGBCanvas(width: 4, height: 3, background: (1, 2, 3))
        canvas.fill(x: 2, y: -1, width: 5, height: 2, color: (9, 8, 7))
        for y in 0..<3 {
            for x in 0..<4 {
                let expected: (UInt8, UInt8, UInt8) = x >= 2 && y == 0 ? (9, 8, 7) : (1, 2, 3)
                XCTAssert(canvas.pixel(x: x, y: y) == expected, "(\(x), \(y))")
            }
        }
        XCTAssertEqual(canvas.rgb.count, 4 * 3 * 3)
    }

    /// "I" at scale 2: its top bar covers cells 1...3 of row 0, its stem cell 2 of rows 1...5, each cell 2×2 pixels.
    func testTextIsDrawnCellByCellAndAdvancesSixCells() {
        XCTAssertEqual(BitmapFont.width(of: "Ab1", scale: 2), 3 * 6 * 2)
        var canvas = RGBCanvas(width: BitmapFont.width(of: "I", scale: 2), height: BitmapFont.glyphHeight * 2, background: (0, 0, 0))
        BitmapFont.draw("i", on: &canvas, x: 0, y: 0, scale: 2, color: (255, 255, 255))
        func inked(_ column: Int, _ row: Int) -> Bool { canvas.pixel(x: column * 2 + 1, y: row * 2 + 1) == (255, 255, 255) }
        XCTAssertEqual((0..<5).map { inked($0, 0) }, [false, true, true, true, false])
        XCTAssertEqual((0..<5).map { inked($0, 3) }, [false, false, true, false, false])
        XCTAssertFalse(inked(5, 3), "the sixth cell is the gap to the next character")
    }
}
