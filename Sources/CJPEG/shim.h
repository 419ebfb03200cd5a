#include <stdio.h>  /* jpeglib.h needs FILE and size_t declared first */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>  /* message codes, to recognize a premature end of data */

/* libjpeg reports errors by calling exit() unless error_exit jumps out, and Swift cannot call setjmp: so the
   whole decode runs here, in one C function, with an error manager that longjmps back to it. */

struct panda_jpeg_error {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    int truncated;
    char message[JMSG_LENGTH_MAX];
};

static void panda_jpeg_error_exit(j_common_ptr info) {
    struct panda_jpeg_error *error = (struct panda_jpeg_error *)info->err;
    (*info->err->format_message)(info, error->message);
    longjmp(error->jump, 1);
}

/* Warnings are tolerated as Pillow tolerates them, except a premature end of data, which libjpeg would
   otherwise paper over with grey rows. */
static void panda_jpeg_emit_message(j_common_ptr info, int level) {
    struct panda_jpeg_error *error = (struct panda_jpeg_error *)info->err;
    if (level < 0 && info->err->msg_code == JWRN_JPEG_EOF && !error->truncated) {
        error->truncated = 1;
        (*info->err->format_message)(info, error->message);
    }
}

/* The EXIF orientation (1-8) in an APP1 marker, or 1. */
static int panda_exif_orientation(const unsigned char *data, unsigned int length) {
    if (length < 14 || memcmp(data, "Exif\0\0", 6) != 0) return 1;
    const unsigned char *tiff = data + 6;
    unsigned int size = length - 6;
    int little = tiff[0] == 'I' && tiff[1] == 'I';
    if (!little && !(tiff[0] == 'M' && tiff[1] == 'M')) return 1;
#define PANDA_U16(p) (little ? (unsigned)((p)[0] | (p)[1] << 8) : (unsigned)((p)[0] << 8 | (p)[1]))
#define PANDA_U32(p) (little ? ((unsigned)(p)[0] | (unsigned)(p)[1] << 8 | (unsigned)(p)[2] << 16 | (unsigned)(p)[3] << 24) \
                             : ((unsigned)(p)[0] << 24 | (unsigned)(p)[1] << 16 | (unsigned)(p)[2] << 8 | (unsigned)(p)[3]))
    unsigned int directory = PANDA_U32(tiff + 4);
    if (directory > size - 2) return 1;
    unsigned int entries = PANDA_U16(tiff + directory);
    for (unsigned int i = 0; i < entries; i++) {
        unsigned int entry = directory + 2 + 12 * i;
        if (entry + 12 > size) break;
        if (PANDA_U16(tiff + entry) == 0x0112) {
            unsigned int value = PANDA_U16(tiff + entry + 8);
            return value >= 1 && value <= 8 ? (int)value : 1;
        }
    }
#undef PANDA_U16
#undef PANDA_U32
    return 1;
}

/* Pillow's cmyk2rgb (libImaging/Convert.c) on one row: with nk = 255 - K, each of R, G, B is nk - C·nk/255, the
   product rounded as its MULDIV255 rounds. */
static void panda_cmyk_to_rgb(unsigned char *out, const unsigned char *in, unsigned int count) {
    for (unsigned int x = 0; x < count; x++, in += 4, out += 3) {
        int nk = 255 - in[3];
        for (int c = 0; c < 3; c++) {
            int product = in[c] * nk + 128;
            int value = nk - (((product >> 8) + product) >> 8);
            out[c] = (unsigned char)(value < 0 ? 0 : value > 255 ? 255 : value);
        }
    }
}

/* Decodes a JPEG held in memory to 8-bit RGB (components == 3) or greyscale (components == 1), with libjpeg's
   accurate integer IDCT and fancy upsampling, as Pillow decodes. Four-component (CMYK or YCCK) files become RGB as
   Pillow makes them: read as inverted CMYK (Pillow's "CMYK;I", the Adobe convention), then cmyk2rgb. Returns 0 and
   a malloc'd pixel buffer; 2 with `width` and `height` set, before any pixel is decoded, when the header declares
   more than `max_pixels` pixels; or 1 with `message` set. */
static inline int panda_jpeg_decode(const unsigned char *data, unsigned long size, unsigned long long max_pixels,
                                    unsigned char **pixels, int *width, int *height, int *components, int *orientation,
                                    char *message, size_t message_size) {
    struct jpeg_decompress_struct info;
    struct panda_jpeg_error error;
    unsigned char *volatile buffer = NULL;
    unsigned char *volatile cmyk_row = NULL;
    memset(&error, 0, sizeof error);
    info.err = jpeg_std_error(&error.manager);
    error.manager.error_exit = panda_jpeg_error_exit;
    error.manager.emit_message = panda_jpeg_emit_message;
    if (setjmp(error.jump)) {
        snprintf(message, message_size, "%s", error.message);
        jpeg_destroy_decompress(&info);
        free(buffer);
        free(cmyk_row);
        return 1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, size);
    jpeg_save_markers(&info, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&info, TRUE);
    if ((unsigned long long)info.image_width * info.image_height > max_pixels) {
        *width = (int)info.image_width;
        *height = (int)info.image_height;
        jpeg_destroy_decompress(&info);
        return 2;
    }
    *orientation = 1;
    for (jpeg_saved_marker_ptr marker = info.marker_list; marker; marker = marker->next)
        if (marker->marker == JPEG_APP0 + 1) *orientation = panda_exif_orientation(marker->data, marker->data_length);
    int cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
    info.out_color_space = info.num_components == 1 ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
    info.dct_method = JDCT_ISLOW;
    jpeg_start_decompress(&info);
    int out_components = cmyk ? 3 : info.output_components;
    size_t stride = (size_t)info.output_width * (size_t)out_components;
    buffer = malloc(stride * info.output_height);
    /* libjpeg keeps no row of its own for the caller: a CMYK row is read here, then converted into the buffer. */
    if (cmyk) cmyk_row = malloc((size_t)info.output_width * 4);
    if (!buffer || (cmyk && !cmyk_row)) {
        snprintf(message, message_size, "out of memory for %ux%u pixels", info.output_width, info.output_height);
        jpeg_destroy_decompress(&info);
        free(buffer);
        free(cmyk_row);
        return 1;
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW row = buffer + stride * info.output_scanline;
        if (cmyk) {
            unsigned int line = info.output_scanline;
            JSAMPROW raw = cmyk_row;
            jpeg_read_scanlines(&info, &raw, 1);
            for (unsigned int i = 0; i < info.output_width * 4; i++) cmyk_row[i] = 255 - cmyk_row[i];
            panda_cmyk_to_rgb(buffer + stride * line, cmyk_row, info.output_width);
        } else {
            jpeg_read_scanlines(&info, &row, 1);
        }
    }
    free(cmyk_row);
    cmyk_row = NULL;
    if (error.truncated) {
        snprintf(message, message_size, "%s", error.message);
        jpeg_destroy_decompress(&info);
        free(buffer);
        return 1;
    }
    jpeg_finish_decompress(&info);
    *width = (int)info.output_width;
    *height = (int)info.output_height;
    *components = out_components;
    *pixels = buffer;
    jpeg_destroy_decompress(&info);
    return 0;
}
