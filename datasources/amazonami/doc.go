package amazonami
