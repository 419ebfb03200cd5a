#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>

/* FFmpeg's error codes are macros Swift cannot import. */
static inline int panda_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int panda_averror_eof(void) { return AVERROR_EOF; }
