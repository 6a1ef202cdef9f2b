// Image decoding and encoding over libjpeg-turbo (libjpeg's API: DCT scaling, cropped decoding) and
// libspng, for the Swift side (Sources/Datasets/ImageDecoder.swift). libjpeg reports errors by
// longjmp, which Swift cannot catch, so that part lives here in C; every function returns 0 on
// success or a negative MMX_* code, with a one-line reason in `error` (at most MMX_ERROR_SIZE bytes).
#ifndef MULTIMIX_IMAGE_CODECS_H
#define MULTIMIX_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

#define MMX_ERROR_SIZE 160

#define MMX_OK 0
#define MMX_NOT_AN_IMAGE (-1)   // neither a JPEG nor a PNG signature
#define MMX_CORRUPT (-2)        // the library refused the data (truncated, damaged, unsupported)
#define MMX_TOO_LARGE (-3)      // width × height above the caller's pixel limit
#define MMX_BAD_ARGUMENT (-4)   // a crop or scale outside the image (a bug on the Swift side)

typedef enum { MMX_FORMAT_JPEG = 1, MMX_FORMAT_PNG = 2 } mmx_format;

typedef struct {
    mmx_format format;
    uint32_t width;
    uint32_t height;
} mmx_image_info;

// The format and size from the header alone (no pixel is decoded, nothing large allocated).
int mmx_image_info_read(const uint8_t *data, size_t size, mmx_image_info *info, char *error);

// Decodes the rows [y, y + height) and columns [x, x + width) of the image scaled by 1/scale_denominator
// (JPEG: 1, 2, 4 or 8, libjpeg-turbo's DCT scaling; PNG: 1), as 8-bit RGB rows into `rgb`.
// Coordinates are in the scaled image. JPEG decodes only the rows it needs and, where libjpeg allows,
// the columns: libjpeg widens the column range to whole iMCUs, so the decoded region is reported back
// through *out_x and *out_width (covering [x, x + width)); rows are exactly [y, y + height), each
// *out_width × 3 bytes. `rgb` must hold height × (scaled image width) × 3 bytes. Greyscale and CMYK
// JPEGs and grey, grey+alpha, palette, RGBA and 16-bit PNGs all come out as RGB (alpha dropped,
// 16-bit → 8-bit). `max_pixels` bounds width × height of the full image before anything is allocated.
int mmx_image_decode(const uint8_t *data, size_t size, uint64_t max_pixels, int scale_denominator,
                     uint32_t x, uint32_t y, uint32_t width, uint32_t height,
                     uint8_t *rgb, uint32_t *out_x, uint32_t *out_width, char *error);

// The size of the image scaled by 1/scale_denominator, as the decoder will produce it.
int mmx_image_scaled_size(const uint8_t *data, size_t size, int scale_denominator,
                          uint32_t *width, uint32_t *height, char *error);

// Encodes 8-bit RGB (channels 3) or grey (channels 1) rows as a PNG into a buffer from malloc
// (*png, *png_size; the caller frees it).
int mmx_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                   uint8_t **png, size_t *png_size, char *error);

// Encodes 8-bit RGB rows as a baseline JPEG at `quality` (tests write their image folders with it).
int mmx_jpeg_encode(const uint8_t *rgb, uint32_t width, uint32_t height, int quality,
                    uint8_t **jpeg, size_t *jpeg_size, char *error);

#endif
