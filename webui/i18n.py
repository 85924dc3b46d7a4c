"""English and Simplified Chinese text for the UI, following the browser's language.

Labels of components are ``gr.I18n`` keys, translated by the browser. Text the handlers make at
run time (status, notices, errors, table headings) is translated here with ``text(key, language)``,
the language read from the request's ``Accept-Language`` header, which the browser sets from the
same preference. The text about model files is in ``model_texts``; the engine's messages (an id and its
values, see ``gpen.messages``) are worded from the same tables with ``worded``.
"""
from __future__ import annotations

from typing import Any

from gpen.messages import ENGLISH as ENGINE_EN
from gpen.messages import Message, message_of

from . import engine_texts, model_texts

EN: dict[str, str] = {
    # page
    "title": "GPEN face restoration",
    "intro": "## GPEN face restoration\n\nRestore the faces in your photos. Drop a photo in, press **Enhance**, "
             "drag the slider to compare, and download the full-resolution result.",
    "tab_single": "Single photo",
    "tab_batch": "Batch",
    "tab_settings": "Settings",
    # controls shared by both tabs
    "strength": "Strength",
    "strength_info": "0 keeps the original face, 100 uses the fully restored one",
    "mode": "Mode",
    "mode_info": "sets the sliders under Advanced",
    "mode_natural": "Natural",
    "mode_strong": "Strong",
    "mode_detail": "Detail",
    "advanced": "Advanced",
    "faces": "Faces to restore",
    "faces_all": "All faces",
    "faces_largest": "The largest face",
    "faces_center": "The face nearest the centre",
    "min_face": "Smallest face to restore (pixels)",
    "min_face_info": "smaller faces are left as they are; 0 restores every face",
    "aligned": "The photo is an aligned face crop (skip face detection)",
    "adjustments_info": "0 or off changes nothing",
    "adjust_denoise": "Denoise (whole photo)",
    "adjust_sharpen": "Sharpen",
    "adjust_contrast": "Contrast",
    "adjust_brightness": "Brightness",
    "adjust_skin_protection": "Keep the original skin tone",
    "adjust_detail": "Extra facial detail",
    # single tab
    "input_photo": "Photo: click, drop or paste",
    "enhance": "Enhance",
    "before_after": "Before / after (drag to compare)",
    "download_result": "Full-resolution result",
    "faces_found": "Faces found",
    "face_preview": "Faces found, numbered",
    "picked_faces": "Restore these faces",
    "picked_faces_info": "the numbers on the photo above; all are ticked at first",
    "show_landmarks": "Show landmarks (eyes, nose, mouth corners)",
    "no_face_ticked": "Tick at least one face to restore (the numbers under the face preview).",
    "device_used": "Device used",
    "seconds_taken": "Seconds taken",
    # batch tab
    "batch_files": "Photos, or one ZIP of photos",
    "enhance_all": "Enhance all",
    "gallery": "Results (each: before | after)",
    "batch_folder": "Saved in this folder",
    "batch_failed_popup": "{count} of {total} files failed (they are at the top of the table):",
    "batch_progress": "{faces} faces · {elapsed} elapsed",
    "progress_left": " · about {left} left",
    "progress_now": " · now: {name}",
    "report": "One row per photo",
    "download_zip": "All results (ZIP)",
    # settings tab
    "device": "Device",
    "device_auto": "Auto (GPU when there is one)",
    "device_cpu": "CPU",
    "device_cuda": "CUDA (NVIDIA GPU)",
    "device_cuda_no_build": "CUDA: not available (this PyTorch has no CUDA support)",
    "device_cuda_no_gpu": "CUDA: not available (no CUDA GPU found)",
    "precision": "Precision",
    "precision_info": "auto: bf16 on GPUs that support it, fp32 otherwise",
    "batch_size": "Batch size (faces per step on the device)",
    "model": "Model",
    "model_info": "larger models are slower and need more memory",
    "detector": "Face detector",
    "detector_info": "retinaface-r50: the official pipeline's, the most exact. retinaface-mobile0.25: several "
                     "times faster on a CPU, a little less exact on small, blurred or turned faces",
    "output_format": "Output format",
    "format_same": "Same as the input",
    "strip_metadata": "Leave out personal metadata",
    "strip_metadata_info": "removes EXIF (with the GPS position), XMP and text from the results; the colour "
                           "profile and resolution stay",
    "quality": "JPEG / WebP quality",
    "max_megapixels": "Largest input (megapixels)",
    "max_megapixels_info": "bigger images are refused before they are decoded",
    "apply": "Apply settings",
    "download_models": "Download missing model files",
    "reload": "Reload model",
    "status": "Status",
    # handlers (run time)
    "no_photo": "Add a photo first (click, drop or paste it into the photo box).",
    "no_files": "Add some photos (or one ZIP of photos) first.",
    "too_many_files": "This batch holds {count} photos, more than the {limit} one batch may hold, so nothing was "
                      "done. Split it into smaller batches.",
    "model_not_offered": "The model must be one of {names}. A checkpoint file can be chosen only when starting "
                         "the app (--model PATH).",
    "no_faces_notice": "No face was found in this photo, so it is returned unchanged. If it does show a face, "
                       "try a larger photo, or lower “Smallest face to restore” under Advanced.",
    "cannot_read": "This file cannot be used: {error}",
    "failed": "Restoring this photo failed: {error}",
    "unpacking": "Unpacking {name}",
    "loading_model": "Loading the model",
    "unit_photos": "photos",
    "batch_summary": "{ok} restored ({faces} faces), {no_faces} without faces, {skipped} skipped, {failed} failed "
                     "in {seconds:.1f} s. Saved in `{folder}`.",
    "column_file": "File",
    "column_status": "Status",
    "column_faces": "Faces",
    "column_seconds": "Seconds",
    "column_error": "Error",
    "status_ok": "restored",
    "status_no_faces": "no faces",
    "status_skipped": "skipped",
    "status_failed": "failed",
    "status_stopped": "stopped",
    "batch_stopping": "Stopping after the photos in progress; every result so far is kept.",
    "batch_stopped": "Stopped: {done} of {total} files done. The results so far are in the folder and the ZIP.",
    "batch_summary_stopped": " {stopped} not processed (stopped).",
    "bad_setting": "That setting is not valid: {error}",
    "disk_full": "The server's disk is full, so this could not be finished. Try again later, or with fewer or "
                 "smaller photos.",
    "unexpected_error": "Something went wrong on the server, so this could not be finished. The details are in "
                        "the server's log.",
    "results_folder_failed": "The server cannot create a folder for the results (the details are in its log).",
    "settings_locked": "Settings are read-only on this server: a change would change them for everyone using "
                       "it. Whoever runs the app can allow changes by starting it with --allow-settings.",
    "settings_locked_notice": "**Settings are read-only here.** This app is open to the network, and a change "
                              "would change it for everyone using it. Whoever runs the app can allow changes "
                              "by starting it with `--allow-settings`.",
    "settings_not_saved": "The settings are in use, but they could not be saved, so they last only until the app "
                          "is restarted (the details are in the server's log).",
    # status panel
    "status_cuda_yes": "**CUDA:** available: {name}, {total_gb:.1f} GB ({free_gb:.1f} GB free)",
    "status_cuda_no": "**CUDA:** not available ({reason})",
    "status_cuda_reason_build": "this PyTorch has no CUDA support",
    "status_cuda_reason_gpu": "no CUDA GPU found",
    "status_note": "**Note:** {note}",
    "status_folder": "**Model folder:** `{folder}`",
    "status_settings_file": "**Settings file:** `{path}`",
    "status_outputs": "**Batch results folder:** `{path}`",
    # video tab
    "tab_video": "Video",
    "video_file": "Video: MP4, MOV, MKV, WebM or AVI",
    "video_quality": "Video quality (H.264 CRF)",
    "video_quality_info": "lower is better and larger; 18 looks like the source",
    "smoothing": "Steady faces (smooth each face's landmarks across frames)",
    "enhance_video": "Enhance video",
    "stop": "Stop",
    "video_result": "Result",
    "video_download": "Restored video",
    "no_video": "Add a video first.",
    "video_progress": "frame {done} of {total}, about {left} s left",
    "video_progress_unknown": "frame {done}",
    "unit_frames": "frames",
    "video_failed": "Restoring this video failed: {error}",
    "video_stopped": "Stopped. No result was kept.",
    "video_stopping": "Stopping after the frames in progress…",
    "video_summary": "{frames} frames restored in {seconds:.1f} s ({faces} faces tracked). Audio, frame times, "
                     "rotation and creation time are kept.",
    # pop-up titles
    "title_error": "Error",
    "title_warning": "Warning",
    "title_info": "Info",
    **model_texts.EN,
    **ENGINE_EN,
}

ZH: dict[str, str] = {
    "title": "GPEN 人脸修复",
    "intro": "## GPEN 人脸修复\n\n修复照片中的人脸。拖入照片，点击 **修复**，拖动滑块对比效果，然后下载全分辨率结果。",
    "tab_single": "单张照片",
    "tab_batch": "批量处理",
    "tab_settings": "设置",
    "strength": "修复强度",
    "strength_info": "0 保留原始人脸，100 使用完全修复的人脸",
    "mode": "模式",
    "mode_info": "会设置“高级选项”中的滑块",
    "mode_natural": "自然",
    "mode_strong": "强力",
    "mode_detail": "细节",
    "advanced": "高级选项",
    "faces": "修复哪些人脸",
    "faces_all": "全部人脸",
    "faces_largest": "最大的人脸",
    "faces_center": "最靠近中心的人脸",
    "min_face": "最小修复人脸（像素）",
    "min_face_info": "更小的人脸保持不变；0 表示修复所有人脸",
    "aligned": "照片是已对齐的人脸裁剪图（跳过人脸检测）",
    "adjustments_info": "0 或关闭表示不做改变",
    "adjust_denoise": "降噪（整张照片）",
    "adjust_sharpen": "锐化",
    "adjust_contrast": "对比度",
    "adjust_brightness": "亮度",
    "adjust_skin_protection": "保持原有肤色",
    "adjust_detail": "增强面部细节",
    "input_photo": "照片：点击、拖入或粘贴",
    "enhance": "修复",
    "before_after": "修复前 / 修复后（拖动对比）",
    "download_result": "全分辨率结果",
    "faces_found": "检测到的人脸",
    "face_preview": "检测到的人脸（已编号）",
    "picked_faces": "修复这些人脸",
    "picked_faces_info": "编号与上方照片一致；默认全部勾选",
    "show_landmarks": "显示关键点（眼睛、鼻子、嘴角）",
    "no_face_ticked": "请至少勾选一张要修复的人脸（人脸预览下方的编号）。",
    "device_used": "使用的设备",
    "seconds_taken": "耗时（秒）",
    "batch_files": "多张照片，或一个照片 ZIP 压缩包",
    "enhance_all": "全部修复",
    "gallery": "结果（每张：修复前 | 修复后）",
    "batch_folder": "保存在此文件夹",
    "batch_failed_popup": "{total} 个文件中有 {count} 个失败（见表格顶部）：",
    "batch_progress": "{faces} 张人脸 · 已用 {elapsed}",
    "progress_left": " · 约剩 {left}",
    "progress_now": " · 正在处理：{name}",
    "report": "每张照片一行",
    "download_zip": "全部结果（ZIP）",
    "device": "设备",
    "device_auto": "自动（有显卡时使用显卡）",
    "device_cpu": "CPU",
    "device_cuda": "CUDA（NVIDIA 显卡）",
    "device_cuda_no_build": "CUDA：不可用（此 PyTorch 不支持 CUDA）",
    "device_cuda_no_gpu": "CUDA：不可用（未找到 CUDA 显卡）",
    "precision": "计算精度",
    "precision_info": "auto：显卡支持时用 bf16，否则用 fp32",
    "batch_size": "批大小（每步在设备上处理的人脸数）",
    "model": "模型",
    "model_info": "模型越大越慢，占用内存越多",
    "detector": "人脸检测器",
    "detector_info": "retinaface-r50：官方流程所用，最准确。retinaface-mobile0.25：在 CPU 上快数倍，"
                     "对较小、模糊或侧转的人脸稍欠准确",
    "output_format": "输出格式",
    "format_same": "与输入相同",
    "strip_metadata": "去除个人元数据",
    "strip_metadata_info": "从结果中去除 EXIF（含 GPS 位置）、XMP 和文字信息；保留色彩配置文件和分辨率",
    "quality": "JPEG / WebP 质量",
    "max_megapixels": "最大输入尺寸（百万像素）",
    "max_megapixels_info": "更大的图片在解码前即被拒绝",
    "apply": "应用设置",
    "download_models": "下载缺少的模型文件",
    "reload": "重新加载模型",
    "status": "状态",
    "no_photo": "请先添加照片（点击、拖入或粘贴到照片框中）。",
    "no_files": "请先添加照片（或一个照片 ZIP 压缩包）。",
    "too_many_files": "这批共有 {count} 张照片，超过了每批最多 {limit} 张的限制，因此没有处理。请分成几批。",
    "model_not_offered": "模型必须是以下之一：{names}。模型文件路径只能在启动时指定（--model 路径）。",
    "no_faces_notice": "这张照片中没有找到人脸，因此原样返回。如果照片中确实有人脸，请尝试更大的照片，"
                       "或在“高级选项”中调低“最小修复人脸”。",
    "cannot_read": "无法使用此文件：{error}",
    "failed": "修复这张照片失败：{error}",
    "unpacking": "正在解压 {name}",
    "loading_model": "正在加载模型",
    "unit_photos": "张",
    "batch_summary": "已修复 {ok} 张（{faces} 张人脸），{no_faces} 张没有人脸，跳过 {skipped} 个，失败 {failed} 个，"
                     "用时 {seconds:.1f} 秒。已保存到 `{folder}`。",
    "column_file": "文件",
    "column_status": "状态",
    "column_faces": "人脸数",
    "column_seconds": "耗时（秒）",
    "column_error": "错误",
    "status_ok": "已修复",
    "status_no_faces": "没有人脸",
    "status_skipped": "已跳过",
    "status_failed": "失败",
    "status_stopped": "已停止",
    "batch_stopping": "正在处理的照片完成后停止；已完成的结果都会保留。",
    "batch_stopped": "已停止：{total} 个文件中完成了 {done} 个。已完成的结果在文件夹和 ZIP 中。",
    "batch_summary_stopped": "{stopped} 个未处理（已停止）。",
    "bad_setting": "设置无效：{error}",
    "disk_full": "服务器磁盘已满，因此无法完成。请稍后再试，或减少照片数量、使用更小的照片。",
    "unexpected_error": "服务器出错，因此无法完成。详细信息记录在服务器日志中。",
    "results_folder_failed": "服务器无法创建存放结果的文件夹（详细信息记录在服务器日志中）。",
    "settings_locked": "此服务器上的设置为只读：修改会影响所有使用者。运行本应用的人可以用 --allow-settings "
                       "启动它来允许修改。",
    "settings_locked_notice": "**此处的设置为只读。** 本应用对网络开放，修改设置会影响所有使用者。"
                              "运行本应用的人可以用 `--allow-settings` 启动它来允许修改。",
    "settings_not_saved": "设置已生效，但无法保存，因此只在应用重启前有效（详细信息记录在服务器日志中）。",
    "status_cuda_yes": "**CUDA：** 可用：{name}，{total_gb:.1f} GB（空闲 {free_gb:.1f} GB）",
    "status_cuda_no": "**CUDA：** 不可用（{reason}）",
    "status_cuda_reason_build": "此 PyTorch 不支持 CUDA",
    "status_cuda_reason_gpu": "未找到 CUDA 显卡",
    "status_note": "**提示：** {note}",
    "status_folder": "**模型文件夹：** `{folder}`",
    "status_settings_file": "**设置文件：** `{path}`",
    "status_outputs": "**批量结果文件夹：** `{path}`",
    # video tab
    "tab_video": "视频",
    "video_file": "视频：MP4、MOV、MKV、WebM 或 AVI",
    "video_quality": "视频质量（H.264 CRF）",
    "video_quality_info": "数值越小画质越好、文件越大；18 与原片几乎无差别",
    "smoothing": "稳定人脸（在帧间平滑每张脸的关键点）",
    "enhance_video": "修复视频",
    "stop": "停止",
    "video_result": "结果",
    "video_download": "修复后的视频",
    "no_video": "请先添加一个视频。",
    "video_progress": "第 {done} / {total} 帧，约剩 {left} 秒",
    "video_progress_unknown": "第 {done} 帧",
    "unit_frames": "帧",
    "video_failed": "修复此视频失败：{error}",
    "video_stopped": "已停止，未保留任何结果。",
    "video_stopping": "处理完当前帧后停止……",
    "video_summary": "已修复 {frames} 帧，用时 {seconds:.1f} 秒（跟踪到 {faces} 张脸）。音频、帧时间、旋转和创建时间均已保留。",
    "title_error": "错误",
    "title_warning": "警告",
    "title_info": "提示",
    **model_texts.ZH,
    **engine_texts.ZH,
}

LANGUAGES: dict[str, dict[str, str]] = {"en": EN, "zh-CN": ZH}
DEFAULT_LANGUAGE = "en"


def gradio_translations() -> dict[str, dict[str, str]]:
    """The tables for ``gr.I18n``: Simplified Chinese under both ``zh-CN`` and ``zh`` (the browser's
    ``zh-SG``, ``zh-TW`` and plain ``zh`` fall back to ``zh``)."""
    return {"en": EN, "zh-CN": ZH, "zh": ZH}


def language_of(accept_language: str | None) -> str:
    """The UI language for an ``Accept-Language`` header: ``zh-CN`` for any Chinese, else English."""
    preferences: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, parameters = part.strip().partition(";")
        weight = 1.0
        if parameters.strip().startswith("q="):
            try:
                weight = float(parameters.strip()[2:])
            except ValueError:
                weight = 0.0
        if tag:
            preferences.append((-weight, position, tag.lower()))
    for _, _, tag in sorted(preferences):
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE


def language_of_request(request: Any) -> str:
    """``language_of`` for a ``gr.Request`` (or None, for calls without one)."""
    headers = getattr(request, "headers", None)
    if headers is None:
        return DEFAULT_LANGUAGE
    return language_of(dict(headers).get("accept-language"))


def text(key: str, language: str = DEFAULT_LANGUAGE, **values: Any) -> str:
    """The string for ``key`` in ``language`` (English where it has none), formatted with ``values``."""
    table = LANGUAGES.get(language, EN)
    template = table.get(key, EN[key])
    return template.format(**values) if values else template


def worded(said: Any, language: str = DEFAULT_LANGUAGE) -> str:
    """An engine's message in ``language``: a ``Message`` from its id and values, any other text as it is."""
    if isinstance(said, Message):
        return said.worded(LANGUAGES.get(language, EN))
    return "" if said is None else str(said)


def said(error: BaseException, language: str = DEFAULT_LANGUAGE) -> str:
    """What an error says, in ``language`` where it was raised with a ``Message``."""
    return worded(message_of(error), language)
