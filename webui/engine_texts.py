"""The engine's messages (``gpen.messages``) in Simplified Chinese. ``i18n`` merges this table into its own,
beside the engine's English templates; a message is worded with ``i18n.worded``.

Where an English message quotes a library's own words (a decoder's or a socket's error, in ``detail``), the
Chinese says what that means instead, so that a Chinese page shows no English sentence; the server's log
keeps the library's words.
"""
from __future__ import annotations

ZH: dict[str, str] = {
    # reading a photo
    "read_missing": "无法读取 {name}：文件不存在。",
    "read_folder": "无法读取 {name}：这是一个文件夹，不是图片文件。",
    "read_permission": "无法读取 {name}：没有权限。请检查文件的权限。",
    "read_os_error": "无法读取 {name}：{reason}。",
    "read_empty": "无法读取 {name}：文件是空的（0 字节）。",
    "read_too_large": "无法读取 {name}：图片为 {width}x{height} = {pixels:,} 像素，超过了 {limit:,} 像素的上限。"
                      "它在解码前即被拒绝（可能是“解压炸弹”）；请缩小图片，或提高上限。",
    "read_bomb": "无法读取 {name}：图片声明有 {pixels:,} 像素（上限 {limit:,} 像素），作为可能的“解压炸弹”被拒绝；"
                 "请缩小图片，或提高上限。",
    "read_bomb_unknown": "无法读取 {name}：图片声明的像素超过解码器允许的数量（上限 {limit:,} 像素），作为可能的"
                         "“解压炸弹”被拒绝；请缩小图片，或提高上限。",
    "read_corrupt": "无法读取 {name}：文件不完整或已损坏。请重新导出或重新下载。",
    "read_not_image": "无法读取 {name}：不是图片，或格式不受支持（支持：JPEG、PNG、WebP、BMP、TIFF、GIF）。",
    "read_not_image_detail": "无法读取 {name}：不是图片，或格式不受支持。",
    "read_mode": "无法读取 {name}：不支持它的颜色模式 {mode}。",
    "read_failed": "无法读取 {name}：读取时出错（详细信息记录在服务器日志中）。",
    # operating-system reasons
    "reason_disk_full": "磁盘已满",
    "reason_quota": "超出磁盘配额",
    "reason_permission": "没有权限",
    "reason_read_only": "文件系统为只读",
    "reason_name_too_long": "文件名过长",
    # writing a result
    "write_folder": "无法写入 {target}：无法创建文件夹（{reason}）。",
    "write_os_error": "无法写入 {target}：{reason}。没有写入任何内容。请释放一些空间、检查权限，或换一个文件夹。",
    "write_encode": "无法写入 {target}：无法编码为这种格式。没有写入任何内容。请换一种格式。",
    "write_failed": "无法写入 {target}：写入时出错（详细信息记录在服务器日志中）。",
    # the stages
    "no_such_face": "没有第 {numbers} 张人脸：这张照片只有 {count} 张人脸",
    "no_such_face_of_one": "没有第 {numbers} 张人脸：这张照片只有 {count} 张人脸",
    "detection_failed": "人脸检测失败（详细信息记录在服务器日志中）",
    "alignment_failed": "人脸对齐失败（详细信息记录在服务器日志中）",
    "paste_failed": "将人脸贴回照片失败（详细信息记录在服务器日志中）",
    "restoration_failed": "人脸修复失败：{reason}",
    "out_of_memory": "在 {device} 上内存不足，即使一次只处理一张人脸也不够",
    "network_failed": "网络在 {device} 上运行失败（详细信息记录在服务器日志中）。",
    "network_failed_gpu": "网络在 {device} 上运行失败：显卡处于错误状态，请重新启动程序。",
    "not_processed_interrupted": "未处理：已中断",
    "not_processed_stopped": "未处理：运行已停止（{reason}）",
    # the device
    "note_no_cuda": "选择了 CUDA，但没有可用的 CUDA 显卡；改为在 CPU 上运行。",
    "note_fp16_on_cpu": "fp16 在 CPU 上没有好处；改用 fp32。",
    "notes": "{first}{second}",
    # model files
    "model_missing": "模型文件 {file} 不在 {folder} 中。请从以下任一地址下载，并以 {file} 为名保存到 {folder}：\n"
                     "{addresses}",
    "model_missing_no_download": "模型文件 {file} 不在 {folder} 中，且下载功能已关闭（设置了 GPEN_NO_DOWNLOAD）。"
                                 "请从以下任一地址下载，并以 {file} 为名保存到 {folder}：\n{addresses}",
    "model_path_missing": "找不到模型文件 {path}。请检查路径，或给出以下模型名称之一：{names}。",
    "model_not_a_file": "模型文件 {path} 不存在（或不是文件）。",
    "model_empty": "模型文件 {path} 是空的（0 字节），可能来自一次失败的下载。请删除 {path} 后重新下载（或指向另一份副本）。",
    "model_permission": "无法读取模型文件 {path}：没有权限。请给运行 GPEN 的用户读取权限（例如：chmod a+r {path}）。",
    "model_unreadable": "无法读取模型文件 {path}：系统错误。",
    "model_not_checkpoint": "模型文件 {path} 不是 PyTorch 模型文件（开头为 {head}；可能是下载失败时保存下来的错误页面）。"
                            "请删除 {path} 后重新下载（或指向另一份副本）。",
    "model_unsafe": "模型文件 {path} 被拒绝：其中含有张量以外的 Python 对象，加载它可能会执行代码。请使用来自可信来源的"
                    "纯权重文件。请删除 {path} 后重新下载（或指向另一份副本）。",
    "model_corrupt": "模型文件 {path} 不是可读取的 PyTorch 模型文件，可能不完整或已损坏。请删除 {path} 后重新下载"
                     "（或指向另一份副本）。",
    "model_no_state_dict": "模型文件 {path} 中没有张量形式的权重。请确认文件是否正确。",
    "model_not_gpen": "模型文件 {path} 不是 GPEN 模型文件。",
    "model_wrong_layout": "模型文件 {path} 不是 GPEN 模型文件，或其结构不对。",
    "model_folder_permission": "无法读取模型文件夹 {folder}：没有权限，因此无法查找 {file}。请给运行 GPEN 的用户访问"
                               "权限（例如：chmod a+rx {folder}）。",
    "model_cannot_look": "无法查找模型文件 {path}：系统错误。",
    # downloads
    "download_gave_up": "无法下载 {file}：\n{tried}\n请检查网络连接；如果本机通过代理（HTTPS_PROXY）上网，请检查代理，"
                       "然后重试；或者{by_hand}。",
    "download_attempt": "  - {url}：{reason}",
    "download_no_address": "  （不知道下载地址）",
    "download_by_hand": "从 {url} 手动下载，并以 {file} 为名保存到 {folder}",
    "download_by_hand_more": "从 {url}（或上面的其他地址）手动下载，并以 {file} 为名保存到 {folder}",
    "download_put_by_hand": "手动将 {file} 放入 {folder}",
    "download_no_folder": "无法创建文件夹",
    "download_cut": "传输在收到 {received} 后中断",
    "download_empty": "服务器发来的是空文件",
    "download_checksum": "校验和不符：应为 sha256 {expected}，实际为 {got}",
    "download_http": "服务器返回 HTTP {code} 错误",
    "download_no_answer": "超时：{seconds:g} 秒内没有响应",
    "download_cannot_connect": "无法连接",
    "download_refused": "无法连接：连接被拒绝",
    "download_unknown_host": "无法连接：找不到服务器的地址",
    "download_proxy_refused": "无法连接：代理拒绝了连接（HTTP {code}）",
    "download_stalled": "超时：收到 {received} 后 {seconds:g} 秒内没有数据",
    "download_bad_response": "响应或地址有误",
    "download_broken": "收到 {received} 后连接出错",
    "bytes_of": "{done} / {total} 字节",
    "bytes": "{done} 字节",
    # videos
    "video_no_frames": "{name} 没有视频帧（空视频或被截断的视频）；没有可修复的内容",
    "video_unreadable": "{name} 不是可读取的视频：文件已损坏、不完整，或不是视频",
    "video_no_stream": "{name} 没有视频流（只有音频或数据）；没有可修复的内容",
    "video_still_image": "{name} 是一张静态图片（{format}），不是视频；请给它图片扩展名，作为照片来修复",
    "video_unknown_codec": "{name}：无法在这里解码它的视频编码（未知编码）；请先转换为 H.264",
    "video_undecodable": "{name} 无法解码：文件已损坏，或不支持它的编码",
    "video_write_failed": "无法写入 {target}：编码或写入时出错（详细信息记录在服务器日志中）",
    "video_crashed": "修复视频失败（详细信息记录在服务器日志中）",
    "video_frame_failed": "第 {index} 帧：{error}",
    # uploads to the web UI: its batches and their ZIPs
    "upload_too_many": "文件太多：最多 {limit} 个",
    "zip_unreadable": "不是可读取的 ZIP 文件",
    "zip_overlapping": "已拒绝：这个 ZIP 中有 {count} 个条目与其他条目的存储数据重叠（同一个存储文件被列出多次，"
                       "ZIP 炸弹常这样做），因此没有从中取出任何文件",
    "zip_too_many": "这批文件太多",
    "zip_too_large": "这个 ZIP 解压后超过了一批允许的大小",
    "zip_cannot_unpack": "无法解压",
    "zip_unsafe_path": "ZIP 中的路径不安全",
    "zip_link": "是链接，不是文件",
    "zip_not_image": "不是图片文件",
}
