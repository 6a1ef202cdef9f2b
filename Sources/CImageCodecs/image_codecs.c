// See include/image_codecs.h. Errors leave through libjpeg's error_exit by longjmp back into the
// function that set the jump; everything it allocated is freed on that path too.
#include "image_codecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <spng.h>

static int fail(char *error, int code, const char *what) {
    snprintf(error, MMX_ERROR_SIZE, "%s", what);
    return code;
}

static int is_jpeg(const uint8_t *data, size_t size) {
    return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

static int is_png(const uint8_t *data, size_t size) {
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    return size >= 8 && memcmp(data, signature, 8) == 0;
}

// ---- JPEG (libjpeg API of libjpeg-turbo) ----

typedef struct {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    char *error;
} jpeg_failure;

static void jpeg_fail(j_common_ptr cinfo) {
    jpeg_failure *failure = (jpeg_failure *)cinfo->err;
    char message[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, message);
    snprintf(failure->error, MMX_ERROR_SIZE, "JPEG: %s", message);
    longjmp(failure->jump, 1);
}

// Warnings are ignored (e.g. extraneous bytes, common in cameras' files), except a premature end of
// data: libjpeg would fill the missing rows with grey; Pillow, and this project, refuse the file.
static void jpeg_warn(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(cinfo);
}

static void jpeg_prepare(struct jpeg_decompress_struct *cinfo, jpeg_failure *failure, char *error) {
    cinfo->err = jpeg_std_error(&failure->manager);
    failure->manager.error_exit = jpeg_fail;
    failure->manager.emit_message = jpeg_warn;
    failure->error = error;
}

static int jpeg_info(const uint8_t *data, size_t size, int denominator, uint32_t *width, uint32_t *height,
                     char *error) {
    struct jpeg_decompress_struct cinfo;
    jpeg_failure failure;
    jpeg_prepare(&cinfo, &failure, error);
    if (setjmp(failure.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return MMX_CORRUPT;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.scale_num = 1;
    cinfo.scale_denom = (unsigned)denominator;
    jpeg_calc_output_dimensions(&cinfo);
    *width = denominator == 1 ? cinfo.image_width : cinfo.output_width;
    *height = denominator == 1 ? cinfo.image_height : cinfo.output_height;
    jpeg_destroy_decompress(&cinfo);
    return MMX_OK;
}

// Pillow's CMYK → RGB (Convert.c, cmyk2rgb): r = (255 − k) − c·(255 − k)/255, rounded as MULDIV255.
static uint8_t cmyk_channel(int c, int k) {
    int nk = 255 - k, t = c * nk + 128;
    int v = nk - (((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static int jpeg_decode(const uint8_t *data, size_t size, uint64_t max_pixels, int denominator,
                       uint32_t x, uint32_t y, uint32_t width, uint32_t height,
                       uint8_t *rgb, uint32_t *out_x, uint32_t *out_width, char *error) {
    struct jpeg_decompress_struct cinfo;
    jpeg_failure failure;
    uint8_t *volatile cmyk_row = NULL;
    jpeg_prepare(&cinfo, &failure, error);
    if (setjmp(failure.jump)) {
        free(cmyk_row);
        jpeg_destroy_decompress(&cinfo);
        return MMX_CORRUPT;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if ((uint64_t)cinfo.image_width * cinfo.image_height > max_pixels) {
        snprintf(error, MMX_ERROR_SIZE, "%ux%u pixels is above the limit of %llu (data.max_image_pixels)",
                 cinfo.image_width, cinfo.image_height, (unsigned long long)max_pixels);
        jpeg_destroy_decompress(&cinfo);
        return MMX_TOO_LARGE;
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    cinfo.scale_num = 1;
    cinfo.scale_denom = (unsigned)denominator;
    jpeg_start_decompress(&cinfo);
    if ((uint64_t)x + width > cinfo.output_width || (uint64_t)y + height > cinfo.output_height
        || width == 0 || height == 0) {
        snprintf(error, MMX_ERROR_SIZE, "crop %ux%u at (%u, %u) outside the %ux%u decoded image",
                 width, height, x, y, cinfo.output_width, cinfo.output_height);
        jpeg_destroy_decompress(&cinfo);
        return MMX_BAD_ARGUMENT;
    }
    JDIMENSION column = x, columns = width;
    if (!(x == 0 && width == cinfo.output_width)) jpeg_crop_scanline(&cinfo, &column, &columns);
    *out_x = column;
    *out_width = columns;
    if (y > 0) jpeg_skip_scanlines(&cinfo, y);
    if (cmyk) cmyk_row = malloc((size_t)columns * 4);
    if (cmyk && !cmyk_row) {
        jpeg_destroy_decompress(&cinfo);
        return fail(error, MMX_CORRUPT, "out of memory");
    }
    int inverted = cinfo.saw_Adobe_marker;   // Adobe's CMYK JPEGs store inverted values
    for (uint32_t row = 0; row < height; row++) {
        uint8_t *out = rgb + (size_t)row * columns * 3;
        JSAMPROW target = cmyk ? cmyk_row : out;
        if (jpeg_read_scanlines(&cinfo, &target, 1) != 1) {
            free(cmyk_row);
            jpeg_destroy_decompress(&cinfo);
            return fail(error, MMX_CORRUPT, "JPEG: premature end of data");
        }
        if (cmyk) {
            for (JDIMENSION i = 0; i < columns; i++) {
                const uint8_t *p = cmyk_row + i * 4;
                int c = p[0], m = p[1], ye = p[2], k = p[3];
                if (inverted) { c = 255 - c; m = 255 - m; ye = 255 - ye; k = 255 - k; }
                out[i * 3] = cmyk_channel(c, k);
                out[i * 3 + 1] = cmyk_channel(m, k);
                out[i * 3 + 2] = cmyk_channel(ye, k);
            }
        }
    }
    free(cmyk_row);
    jpeg_abort_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return MMX_OK;
}

// ---- PNG (libspng) ----

static int png_open(const uint8_t *data, size_t size, spng_ctx **out, struct spng_ihdr *ihdr, char *error) {
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) return fail(error, MMX_CORRUPT, "out of memory");
    // Ancillary chunks are skipped; no chunk or cache beyond 64 MiB (a PNG's text chunks can be huge).
    spng_set_chunk_limits(ctx, 64u << 20, 64u << 20);
    int code = spng_set_png_buffer(ctx, data, size);
    if (!code) code = spng_get_ihdr(ctx, ihdr);
    if (code) {
        snprintf(error, MMX_ERROR_SIZE, "PNG: %s", spng_strerror(code));
        spng_ctx_free(ctx);
        return MMX_CORRUPT;
    }
    *out = ctx;
    return MMX_OK;
}

static int png_decode(const uint8_t *data, size_t size, uint64_t max_pixels,
                      uint32_t x, uint32_t y, uint32_t width, uint32_t height,
                      uint8_t *rgb, uint32_t *out_x, uint32_t *out_width, char *error) {
    spng_ctx *ctx;
    struct spng_ihdr ihdr;
    int code = png_open(data, size, &ctx, &ihdr, error);
    if (code) return code;
    if ((uint64_t)ihdr.width * ihdr.height > max_pixels) {
        snprintf(error, MMX_ERROR_SIZE, "%ux%u pixels is above the limit of %llu (data.max_image_pixels)",
                 ihdr.width, ihdr.height, (unsigned long long)max_pixels);
        spng_ctx_free(ctx);
        return MMX_TOO_LARGE;
    }
    if ((uint64_t)x + width > ihdr.width || (uint64_t)y + height > ihdr.height || width == 0 || height == 0) {
        snprintf(error, MMX_ERROR_SIZE, "crop %ux%u at (%u, %u) outside the %ux%u image", width, height, x, y,
                 ihdr.width, ihdr.height);
        spng_ctx_free(ctx);
        return MMX_BAD_ARGUMENT;
    }
    size_t row_bytes = (size_t)ihdr.width * 3;
    uint8_t *row = malloc(ihdr.interlace_method ? row_bytes * ihdr.height : row_bytes);
    if (!row) {
        spng_ctx_free(ctx);
        return fail(error, MMX_CORRUPT, "out of memory");
    }
    if (ihdr.interlace_method) {
        // Interlaced rows arrive pass by pass: decode the whole image, then copy the crop.
        code = spng_decode_image(ctx, row, row_bytes * ihdr.height, SPNG_FMT_RGB8, 0);
        for (uint32_t r = 0; !code && r < height; r++)
            memcpy(rgb + (size_t)r * width * 3, row + (size_t)(y + r) * row_bytes + (size_t)x * 3, (size_t)width * 3);
    } else {
        code = spng_decode_image(ctx, NULL, 0, SPNG_FMT_RGB8, SPNG_DECODE_PROGRESSIVE);
        for (uint32_t r = 0; !code && r < y + height; r++) {
            code = spng_decode_row(ctx, row, row_bytes);
            if (code == SPNG_EOI && r == ihdr.height - 1) code = 0;
            if (!code && r >= y) memcpy(rgb + (size_t)(r - y) * width * 3, row + (size_t)x * 3, (size_t)width * 3);
        }
    }
    free(row);
    spng_ctx_free(ctx);
    if (code) {
        snprintf(error, MMX_ERROR_SIZE, "PNG: %s", spng_strerror(code));
        return MMX_CORRUPT;
    }
    *out_x = x;
    *out_width = width;
    return MMX_OK;
}

// ---- Dispatch ----

int mmx_image_info_read(const uint8_t *data, size_t size, mmx_image_info *info, char *error) {
    if (is_jpeg(data, size)) {
        info->format = MMX_FORMAT_JPEG;
        return jpeg_info(data, size, 1, &info->width, &info->height, error);
    }
    if (is_png(data, size)) {
        spng_ctx *ctx;
        struct spng_ihdr ihdr;
        int code = png_open(data, size, &ctx, &ihdr, error);
        if (code) return code;
        spng_ctx_free(ctx);
        info->format = MMX_FORMAT_PNG;
        info->width = ihdr.width;
        info->height = ihdr.height;
        return MMX_OK;
    }
    return fail(error, MMX_NOT_AN_IMAGE, size == 0 ? "empty file" : "not a JPEG or PNG file (no JPEG or PNG signature)");
}

int mmx_image_scaled_size(const uint8_t *data, size_t size, int denominator, uint32_t *width, uint32_t *height,
                          char *error) {
    if (denominator != 1 && denominator != 2 && denominator != 4 && denominator != 8)
        return fail(error, MMX_BAD_ARGUMENT, "scale denominator must be 1, 2, 4 or 8");
    if (is_jpeg(data, size)) return jpeg_info(data, size, denominator, width, height, error);
    if (denominator != 1) return fail(error, MMX_BAD_ARGUMENT, "only JPEGs decode at a reduced scale");
    mmx_image_info info;
    int code = mmx_image_info_read(data, size, &info, error);
    *width = info.width;
    *height = info.height;
    return code;
}

int mmx_image_decode(const uint8_t *data, size_t size, uint64_t max_pixels, int denominator,
                     uint32_t x, uint32_t y, uint32_t width, uint32_t height,
                     uint8_t *rgb, uint32_t *out_x, uint32_t *out_width, char *error) {
    if (is_jpeg(data, size)) {
        if (denominator != 1 && denominator != 2 && denominator != 4 && denominator != 8)
            return fail(error, MMX_BAD_ARGUMENT, "scale denominator must be 1, 2, 4 or 8");
        return jpeg_decode(data, size, max_pixels, denominator, x, y, width, height, rgb, out_x, out_width, error);
    }
    if (is_png(data, size)) {
        if (denominator != 1) return fail(error, MMX_BAD_ARGUMENT, "only JPEGs decode at a reduced scale");
        return png_decode(data, size, max_pixels, x, y, width, height, rgb, out_x, out_width, error);
    }
    return fail(error, MMX_NOT_AN_IMAGE, size == 0 ? "empty file" : "not a JPEG or PNG file (no JPEG or PNG signature)");
}

// ---- Encoding ----

int mmx_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                   uint8_t **png, size_t *png_size, char *error) {
    if ((channels != 1 && channels != 3) || width == 0 || height == 0)
        return fail(error, MMX_BAD_ARGUMENT, "PNG encoding takes 1 or 3 channels and a non-empty image");
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    if (!ctx) return fail(error, MMX_CORRUPT, "out of memory");
    struct spng_ihdr ihdr = {0};
    ihdr.width = width;
    ihdr.height = height;
    ihdr.bit_depth = 8;
    ihdr.color_type = channels == 3 ? SPNG_COLOR_TYPE_TRUECOLOR : SPNG_COLOR_TYPE_GRAYSCALE;
    int code = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    if (!code) code = spng_set_ihdr(ctx, &ihdr);
    if (!code) code = spng_encode_image(ctx, pixels, (size_t)width * height * channels, SPNG_FMT_PNG,
                                        SPNG_ENCODE_FINALIZE);
    if (!code) {
        *png = spng_get_png_buffer(ctx, png_size, &code);
    }
    spng_ctx_free(ctx);
    if (code) {
        snprintf(error, MMX_ERROR_SIZE, "PNG: %s", spng_strerror(code));
        return MMX_CORRUPT;
    }
    return MMX_OK;
}

int mmx_jpeg_encode(const uint8_t *rgb, uint32_t width, uint32_t height, int quality,
                    uint8_t **jpeg, size_t *jpeg_size, char *error) {
    struct jpeg_compress_struct cinfo;
    jpeg_failure failure;
    unsigned char *volatile buffer = NULL;
    unsigned long length = 0;
    cinfo.err = jpeg_std_error(&failure.manager);
    failure.manager.error_exit = jpeg_fail;
    failure.error = error;
    if (setjmp(failure.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(buffer);
        return MMX_CORRUPT;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, (unsigned char **)&buffer, &length);
    cinfo.image_width = width;
    cinfo.image_height = height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)cinfo.next_scanline * width * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *jpeg = buffer;
    *jpeg_size = length;
    return MMX_OK;
}
