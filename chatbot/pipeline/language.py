"""Which of the supported locales a visitor's message is written in.

The widget's locale is the page's; a visitor may still write in the other language, and the
answer (FAQ locale, retrieval, model prompt, copy) should follow what they wrote. With English
and Chinese only, the script decides, exactly and in microseconds: a statistical detector
(langdetect, lingua) guesses on short messages and mixed text ("iPhone 15 怎么退货") and would
add a model to load. A short or mixed message keeps the conversation's locale, and so does
pinyin in a Chinese conversation ("tuihuo zenme ban": Latin letters, Chinese words; a zh walk
got English answers to it)."""

import functools
import re

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
MIN_HAN_CHARS = 2
MIN_LATIN_WORDS = 3
# Every toneless pinyin syllable (ü written v); a word made only of these reads as pinyin.
_SYLLABLES = """
    a ai an ang ao ba bai ban bang bao bei ben beng bi bian biao bie bin bing bo bu ca cai
    can cang cao ce cen ceng cha chai chan chang chao che chen cheng chi chong chou chu chua
    chuai chuan chuang chui chun chuo ci cong cou cu cuan cui cun cuo da dai dan dang dao de
    dei den deng di dia dian diao die ding diu dong dou du duan dui dun duo e ei en eng er fa
    fan fang fei fen feng fo fou fu ga gai gan gang gao ge gei gen geng gong gou gu gua guai
    guan guang gui gun guo ha hai han hang hao he hei hen heng hong hou hu hua huai huan huang
    hui hun huo ji jia jian jiang jiao jie jin jing jiong jiu ju juan jue jun ka kai kan kang
    kao ke kei ken keng kong kou ku kua kuai kuan kuang kui kun kuo la lai lan lang lao le lei
    leng li lia lian liang liao lie lin ling liu lo long lou lu luan lun luo lv lve ma mai man
    mang mao me mei men meng mi mian miao mie min ming miu mo mou mu na nai nan nang nao ne nei
    nen neng ni nian niang niao nie nin ning niu nong nou nu nuan nuo nv nve o ou pa pai pan
    pang pao pei pen peng pi pian piao pie pin ping po pou pu qi qia qian qiang qiao qie qin
    qing qiong qiu qu quan que qun ran rang rao re ren reng ri rong rou ru rua ruan rui run ruo
    sa sai san sang sao se sen seng sha shai shan shang shao she shei shen sheng shi shou shu
    shua shuai shuan shuang shui shun shuo si song sou su suan sui sun suo ta tai tan tang tao
    te teng ti tian tiao tie ting tong tou tu tuan tui tun tuo wa wai wan wang wei wen weng wo
    wu xi xia xian xiang xiao xie xin xing xiong xiu xu xuan xue xun ya yan yang yao ye yi yin
    ying yo yong you yu yuan yue yun za zai zan zang zao ze zei zen zeng zha zhai zhan zhang
    zhao zhe zhei zhen zheng zhi zhong zhou zhu zhua zhuai zhuan zhuang zhui zhun zhuo zi zong
    zou zu zuan zui zun zuo"""
PINYIN_SYLLABLES = frozenset(_SYLLABLES.split())
LONGEST_SYLLABLE = max(map(len, PINYIN_SYLLABLES))


def message_locale(text: str, *, default: str) -> str:
    """`zh-hans` for a message mostly in Chinese characters, `en` for one in Latin words only
    (but pinyin in a Chinese conversation), otherwise `default`."""
    han = len(HAN.findall(text))
    latin = LATIN_WORD.findall(text)
    if han >= MIN_HAN_CHARS and han >= len(latin):
        return "zh-hans"
    if han == 0 and len(latin) >= MIN_LATIN_WORDS:
        if default == "zh-hans" and all(is_pinyin(word) for word in latin):
            return default
        return "en"
    return default


@functools.lru_cache(maxsize=4096)
def is_pinyin(word: str) -> bool:
    """The word splits into pinyin syllables ("tuihuo", "zenme"; not "order", "where")."""
    word = word.lower()
    ends = {0}  # positions a split reaches
    for start in range(len(word)):
        if start in ends:
            for size in range(1, LONGEST_SYLLABLE + 1):
                if word[start : start + size] in PINYIN_SYLLABLES:
                    ends.add(start + size)
    return len(word) in ends
